"""The nightly reconciliation from the command line, and payers' statement files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ltc_gateway.cli.common import Subparsers, bootstrap_migrated, parse_date


def add(sub: Subparsers) -> None:
    p = sub.add_parser("reconcile", help="the nightly reconciliation of a business date")
    p.add_argument("--date", help="the business date (default: today in Beijing)")
    p.set_defaults(func=cmd_reconcile)

    statements = sub.add_parser("statements", help="payers' settlement statements").add_subparsers(
        dest="statements_command", required=True
    )
    p = statements.add_parser("import", help="import a payer's statement file (CSV or JSON), as the API does")
    p.add_argument("payer", help="the payer's code")
    p.add_argument("file", help="the statement: .csv (header claim_id,line_no,...) or JSON")
    p.add_argument("--media", choices=("text/csv", "application/json"), help="default: by the file's suffix")
    p.set_defaults(func=cmd_statements_import)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from gateway.audit import operator
    from reconciliation.run import PHASES, Reconciliation

    gateway = bootstrap_migrated()
    settings = gateway.settings
    day = parse_date("--date", args.date) if args.date else gateway.today()
    reconciliation = Reconciliation(
        gateway.sessions,
        window_days=settings.settlement_window_days,
        lease_seconds=settings.reconciliation_lease_seconds,
        clearing=settings.clearing_category,
    )

    def progress(phase: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        print(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {phase:<8}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    result = reconciliation.run(day, progress=progress, actor=operator())
    print(file=sys.stderr)
    print(
        f"reconciliation of {result['business_date']}: {result['status']} (phases {', '.join(PHASES[:-1])})"
    )
    for total in result["totals"]:
        print(
            f"  {total['payer_code']:<16} expected {total['expected_fen']:>14} "
            f"settled {total['settled_fen']:>14} difference {total['difference_fen']:>12} fen"
        )
    print(f"  {'payer':<16} {'category':<14} {'period':<8} {'level 1':<9} {'difference':>12} level 2")
    for g in result.get("levels", []):
        difference = g["payer"]["paid_fen"] - g["gateway"]["paid_fen"]
        found = ", ".join(f"{k} {n}" for k, n in sorted(g["found"].items())) or "nothing"
        level_2 = {"skipped": "-", "matched": f"found {found}", "unavailable": "totals only"}[g["level_2"]]
        where = f"{g['payer_code']:<16} {g['category']:<14} {g['period']:<8}"
        print(f"  {where} {g['level_1']:<9} {difference:>12} {level_2}")
    levels = result["counts"].get("levels", {})
    if levels:
        examined, agreed = levels["keys_examined"], levels["groups_agreed"]
        print(f"  keys matched line by line: {examined} ({agreed} groups agreed by their totals)")
    kinds = result["counts"].get("kinds", {})
    open_items = result["counts"].get("open", {})
    print(f"  {'kind':<22} {'lines':>8} {'open items':>11}")
    for kind in sorted(set(kinds) | set(open_items)):
        print(f"  {kind:<22} {kinds.get(kind, 0):>8} {open_items.get(kind, 0):>11}")
    for payer, outcome in result["counts"].get("pulled", {}).items():
        print(f"  pulled {payer}: {outcome}")
    print(f"  work queue: {result['counts'].get('queue', 'updated')}")
    return 0


def cmd_statements_import(args: argparse.Namespace) -> int:
    import json

    from gateway.audit import operator
    from reconciliation.statements import import_statement

    path = Path(args.file)
    media = args.media or ("text/csv" if path.suffix.lower() == ".csv" else "application/json")
    gateway = bootstrap_migrated()
    with gateway.sessions.begin() as session, path.open("rb") as content:  # streamed, never held whole
        summary = import_statement(session, args.payer, content, media, actor=operator())
    print(json.dumps(summary))
    return 0
