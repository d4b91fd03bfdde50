"""``ltc-gateway settlement``: settlement batches through the clearing lifecycle from the command
line, by the same use cases as the API (``reconciliation.batches``). A member of staff acts as
themselves: ``--user NAME`` with their console password (asked for, or the first line of stdin),
or a key of their own (``ltc-gateway staff key``) in ``LTC_STAFF_KEY`` (never an argument: the
process list shows those), so roles and the four-eyes rule compare the same person as in the
console and over the API. A key issued to no one still reads, declares and clears, but 初审 and
复核 take a named person."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltc_gateway.cli.common import Subparsers, bootstrap_migrated

if TYPE_CHECKING:
    from gateway.services.keys import Principal

KEY_VARIABLE = "LTC_STAFF_KEY"
STEPS = {"review": "first_review", "approve": "second_review", "disburse": "disburse", "clear": "clear"}


def add(sub: Subparsers) -> None:
    parser = sub.add_parser(
        "settlement",
        help=f"settlement batches: 申报 → 初审 → 复核 → 拨付 → 清算 (acts as --user or ${KEY_VARIABLE})",
    )
    parser.add_argument("--user", help="act as this member of staff (their password from a prompt or stdin)")
    settlement = parser.add_subparsers(dest="settlement_command", required=True)
    p = settlement.add_parser("list", help="batches, newest first")
    p.add_argument("--payer")
    p.add_argument("--period", help="YYYY-MM")
    p.add_argument("--status", help="comma-separated: declared,first_reviewed,...")
    p.set_defaults(func=cmd_list)
    p = settlement.add_parser("show", help="a batch as JSON: items, totals, history")
    p.add_argument("batch")
    p.set_defaults(func=cmd_show)
    p = settlement.add_parser("declare", help="申报: a payer's batch for a period (its pending adjustments)")
    p.add_argument("payer")
    p.add_argument("period", help="YYYY-MM (a Beijing month, not after this one)")
    p.set_defaults(func=cmd_declare)
    for name, label in (("review", "初审"), ("approve", "复核 (another person)"), ("clear", "清算")):
        p = settlement.add_parser(name, help=label)
        p.add_argument("batch")
        p.add_argument("--note", default="")
        p.set_defaults(func=cmd_step, step=STEPS[name])
    p = settlement.add_parser("disburse", help="拨付, with the payment reference")
    p.add_argument("batch")
    p.add_argument("--reference", required=True, help="the payment's reference")
    p.add_argument("--note", default="")
    p.set_defaults(func=cmd_step, step="disburse")
    p = settlement.add_parser("export", help="the batch (or --payment its payment file) as XLSX or CSV")
    p.add_argument("batch")
    p.add_argument("--payment", action="store_true", help="the payment file: one row per payee")
    p.add_argument("--out", required=True, help="the file to write: .xlsx or .csv")
    p.set_defaults(func=cmd_export)


def _staff(gateway: Any, args: argparse.Namespace) -> Principal:
    """Who acts: the person of ``--user`` (signed in in a transaction of its own, so a wrong
    password counts towards the lockout), or the holder of the key in ``LTC_STAFF_KEY``."""
    from gateway.errors import Unauthenticated
    from gateway.preflight import UserError
    from gateway.services.keys import Role, admit, authenticate
    from gateway.services.staff import MAX_PASSWORD, sign_in

    user = getattr(args, "user", None)
    key = os.environ.get(KEY_VARIABLE, "").strip()
    if not user and not key:
        raise UserError(f"name yourself: --user USERNAME, or {KEY_VARIABLE} set to a key of your own")
    with gateway.sessions.begin() as session:
        found = sign_in(session, user, _password()[:MAX_PASSWORD]) if user else authenticate(session, key)
    if user and found is None:
        raise Unauthenticated(f"--user {user}: wrong username or password, or the account is locked")
    return admit(found, (Role.RECONCILER, Role.BUREAU))


def _password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return getpass.getpass("password: ")


def _line(batch: dict[str, Any]) -> str:
    from gateway.domain.money import yuan
    from reconciliation.clearing import STATE_LABELS

    state = STATE_LABELS.get(batch["status"], batch["status"])
    reference = f"  {batch['payment_reference']}" if batch["payment_reference"] else ""
    return (
        f"{batch['batch_id']:>6}  {batch['payer_code']:<16} {batch['period']}  {state} {batch['status']:<16}"
        f"{batch['item_count']:>6} {yuan(batch['net_fen']):>16}{reference}"
    )


def cmd_list(args: argparse.Namespace) -> int:
    from reconciliation import batches

    gateway = bootstrap_migrated()
    staff = _staff(gateway, args)
    query = {k: v for k in ("payer", "period", "status") if (v := getattr(args, k))}
    with gateway.sessions.begin() as session:
        found = batches.list_batches(session, staff, {**query, "limit": str(batches.MAX_PAGE)})
    print(f"{found['total']} batches")
    for batch in found["batches"]:
        print(_line(batch))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from reconciliation import batches

    gateway = bootstrap_migrated()
    staff = _staff(gateway, args)
    with gateway.sessions.begin() as session:
        print(json.dumps(batches.view(session, staff, batches.parse_id(args.batch)), ensure_ascii=False))
    return 0


def cmd_declare(args: argparse.Namespace) -> int:
    from reconciliation import batches

    gateway = bootstrap_migrated()
    staff = _staff(gateway, args)
    with gateway.sessions.begin() as session:
        document = {"payer_code": args.payer, "period": args.period}
        print(_line(batches.declare(session, staff, document, gateway.today())))
    return 0


def cmd_step(args: argparse.Namespace) -> int:
    from reconciliation import batches

    gateway = bootstrap_migrated()
    staff = _staff(gateway, args)
    document: dict[str, Any] = {"action": args.step, "note": args.note}
    if args.step == "disburse":
        document["payment_reference"] = args.reference
    with gateway.sessions.begin() as session:
        batch = batches.transition(
            session,
            staff,
            batches.parse_id(args.batch),
            document,
            approval_fen=gateway.settings.settlement_approval_fen,
        )
    print(_line(batch))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from gateway.preflight import UserError
    from reconciliation import batch_files, batches

    out = Path(args.out)
    kind = out.suffix.lower().removeprefix(".")
    if kind not in ("xlsx", "csv"):
        raise UserError(f"--out {args.out}: name a .xlsx or .csv file")
    gateway = bootstrap_migrated()
    staff = _staff(gateway, args)
    with gateway.sessions.begin() as session:
        batch = batches.view(session, staff, batches.parse_id(args.batch), item_limit=None)
    content, _, _ = batch_files.export(batch, "payment" if args.payment else "batch", kind)
    try:
        out.write_bytes(content)
    except OSError as error:
        raise UserError(f"--out {args.out}: {error.strerror}") from None
    print(f"wrote {out} ({len(content)} bytes)")
    return 0
