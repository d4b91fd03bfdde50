"""``ltc-gateway settlement``: settlement batches through the clearing lifecycle from the command
line, by the same use cases as the API (``reconciliation.batches``). A member of staff acts with
their own API key, read from ``LTC_STAFF_KEY`` (never an argument: the process list shows
those), so roles and the four-eyes rule hold as they do over the API."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltc_gateway.cli.common import Subparsers, bootstrap_migrated

if TYPE_CHECKING:
    from gateway.services.keys import Principal

KEY_VARIABLE = "LTC_STAFF_KEY"
STEPS = {"review": "first_review", "approve": "second_review", "disburse": "disburse", "clear": "clear"}


def add(sub: Subparsers) -> None:
    settlement = sub.add_parser(
        "settlement", help=f"settlement batches: 申报 → 初审 → 复核 → 拨付 → 清算 (acts as ${KEY_VARIABLE})"
    ).add_subparsers(dest="settlement_command", required=True)
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


def _staff(session: Any) -> Principal:
    from gateway.preflight import UserError
    from gateway.services.keys import Role, admit, authenticate

    key = os.environ.get(KEY_VARIABLE, "").strip()
    if not key:
        raise UserError(f"set {KEY_VARIABLE} to your own API key (reconciler or bureau)")
    return admit(authenticate(session, key), (Role.RECONCILER, Role.BUREAU))


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
    query = {k: v for k in ("payer", "period", "status") if (v := getattr(args, k))}
    with gateway.sessions.begin() as session:
        found = batches.list_batches(session, _staff(session), {**query, "limit": str(batches.MAX_PAGE)})
    print(f"{found['total']} batches")
    for batch in found["batches"]:
        print(_line(batch))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from reconciliation import batches

    gateway = bootstrap_migrated()
    with gateway.sessions.begin() as session:
        print(
            json.dumps(
                batches.view(session, _staff(session), batches.parse_id(args.batch)), ensure_ascii=False
            )
        )
    return 0


def cmd_declare(args: argparse.Namespace) -> int:
    from reconciliation import batches

    gateway = bootstrap_migrated()
    with gateway.sessions.begin() as session:
        document = {"payer_code": args.payer, "period": args.period}
        print(_line(batches.declare(session, _staff(session), document, gateway.today())))
    return 0


def cmd_step(args: argparse.Namespace) -> int:
    from reconciliation import batches

    gateway = bootstrap_migrated()
    document: dict[str, Any] = {"action": args.step, "note": args.note}
    if args.step == "disburse":
        document["payment_reference"] = args.reference
    with gateway.sessions.begin() as session:
        batch = batches.transition(
            session,
            _staff(session),
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
    with gateway.sessions.begin() as session:
        batch = batches.view(session, _staff(session), batches.parse_id(args.batch), item_limit=None)
    content, _, _ = batch_files.export(batch, "payment" if args.payment else "batch", kind)
    try:
        out.write_bytes(content)
    except OSError as error:
        raise UserError(f"--out {args.out}: {error.strerror}") from None
    print(f"wrote {out} ({len(content)} bytes)")
    return 0
