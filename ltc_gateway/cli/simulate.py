"""Policy simulation (测算): a period's claims replayed under draft product rules."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gateway.config import load_settings
from ltc_gateway.cli.common import Subparsers


def add(sub: Subparsers) -> None:
    p = sub.add_parser("simulate", help="replay a period's claims under draft product rules (测算)")
    p.add_argument("--from", dest="from_month", metavar="YYYY-MM")
    p.add_argument("--to", dest="to_month", metavar="YYYY-MM")
    p.add_argument("--draft", action="append", type=Path, default=[], metavar="FILE", help="repeatable")
    p.add_argument("--generated", type=int, metavar="N", help="a generated city of N members (temporary)")
    p.add_argument("--contribution", type=float, default=90.0, help="yuan a person a year")
    p.add_argument("--enrolled", type=int, help="members contributions are paid for")
    p.add_argument("--balance", type=float, help="the fund's balance in yuan")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--json", action="store_true")
    p.add_argument("--xlsx", type=Path, metavar="FILE", help="the report as a workbook too")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from gateway.audit import operator
    from gateway.simulation.console import run_command
    from gateway.simulation.history import Period

    logging.getLogger("ltc_gateway").setLevel(logging.WARNING)  # the report is the output
    period = Period(args.from_month, args.to_month or args.from_month) if args.from_month else None
    funding = {
        "per_person_year_fen": round(args.contribution * 100),
        "enrolled_members": args.enrolled,
        "fund_balance_fen": None if args.balance is None else round(args.balance * 100),
    }
    return run_command(
        load_settings(),
        period,
        args.draft,
        args.generated,
        funding,
        args.processes,
        args.json,
        operator(),
        args.xlsx,
    )
