"""``ltc-gateway``: the command line. Configuration comes from the environment (``LTC_*``) or
the TOML file named by ``LTC_CONFIG``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from gateway import __version__
from gateway.config import load_settings
from gateway.services.errors import ServiceError
from gateway.services.keys import Role


def _bootstrap(migrated: bool = True):  # type: ignore[no-untyped-def]
    from gateway.bootstrap import bootstrap
    from gateway.preflight import require_schema

    gateway = bootstrap(load_settings())
    if migrated:  # a missing schema is said in one line, before the first query fails
        require_schema(gateway.engine)
    return gateway


def _date(option: str, text: str):  # type: ignore[no-untyped-def]
    from datetime import date

    from gateway.preflight import UserError

    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise UserError(f"{option} {text}: {error} (a date is YYYY-MM-DD)") from None


def cmd_serve(args: argparse.Namespace) -> int:
    import os
    import shutil
    import tempfile

    import uvicorn

    from gateway.observability.logging import uvicorn_log_config
    from gateway.preflight import require_schema
    from gateway.storage.database import make_engine

    if args.embedded_workers is not None:
        os.environ["LTC_EMBEDDED_WORKERS"] = str(args.embedded_workers)
    settings = load_settings()  # fail early on a bad configuration, before forking
    engine = make_engine(settings.database_url)
    try:
        require_schema(engine)  # refuse to start on a database without this version's schema
    finally:
        engine.dispose()
    shared_metrics = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics of all processes together: prometheus_client's multiprocess mode, which reads
        # the variable when the workers import it
        shared_metrics = tempfile.mkdtemp(prefix="ltc-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared_metrics
    try:
        uvicorn.run(
            "gateway.asgi:app",
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            log_config=uvicorn_log_config(args.log_level),
            proxy_headers=True,
            access_log=False,  # the gateway writes its own access lines, as JSON with the request id
        )
    finally:
        if shared_metrics is not None:
            shutil.rmtree(shared_metrics, ignore_errors=True)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from gateway.orchestration.worker import Worker

    # the worker's threads mostly wait on the database and payers; a shorter GIL switch interval
    # (5 ms by default) lets a thread whose answer came resume sooner (in-process drain at 200 ms
    # payers: 7.3 -> 8.0 claims/s, and less CPU a claim)
    sys.setswitchinterval(0.0005)
    gateway = _bootstrap()
    worker = Worker.from_settings(gateway.sessions, gateway.catalogue, gateway.settings)
    if args.once:
        print(f"worked on {worker.drain()} claims and messages")
        return 0

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)

    asyncio.run(main())
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from gateway.storage.migrate import head_revision, upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    print(f"database at revision {head_revision()}")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from gateway.audit import operator
    from gateway.services.keys import create_key

    gateway = _bootstrap()
    with gateway.sessions.begin() as session:
        key_id, key = create_key(session, Role(args.role), args.party, args.label, operator())
    print(key)
    print(
        f"key {key_id}: role {args.role}, party {args.party}. It is shown only now; store it safely.",
        file=sys.stderr,
    )
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from gateway.audit import operator
    from gateway.services.keys import revoke_key

    gateway = _bootstrap()
    with gateway.sessions.begin() as session:
        found = revoke_key(session, args.key_id, operator())
    if not found:
        print(f"error: no key {args.key_id}", file=sys.stderr)
        return 2
    print(f"key {args.key_id} revoked: it no longer works, on every process")
    return 0


def cmd_payers_load(args: argparse.Namespace) -> int:
    from gateway.services.registry import load_dir

    gateway = _bootstrap()
    with gateway.sessions.begin() as session:
        payers, loaded = load_dir(session, Path(args.directory))
    for payer in payers:
        routes = "" if payer.routes is None else f", {payer.routes} districts routed"
        print(f"{payer.payer_code:<16} {'(payer)':<24} adapter {payer.adapter_type}{routes}")
    for item in loaded:
        state = f"version {item.version}" + ("" if item.changed else " (unchanged)")
        print(f"{item.payer_code:<16} {item.product_code:<24} {state}")
    return 0


def cmd_payers_list(args: argparse.Namespace) -> int:
    from gateway.services.registry import list_payers

    gateway = _bootstrap()
    with gateway.sessions.begin() as session:
        rows = list_payers(session)
    if not rows:
        print("no payers registered (ltc-gateway payers load DIR)")
        return 0
    print(f"{'tier':<5} {'payer':<16} {'product':<24} {'kind':<14} version")
    for row in rows:
        print(
            f"{row['tier']:<5} {row['payer_code']:<16} {row['product_code']:<24} {row['kind']:<14} "
            f"{row['version']}"
        )
    return 0


def cmd_adapter_check(args: argparse.Namespace) -> int:
    import json

    from adapters.conformance import render, render_json, render_junit, run_checks
    from adapters.registry import capabilities
    from gateway.services.registry import adapter_target

    gateway = _bootstrap()
    with gateway.sessions.begin() as session:
        config, product, proposing = adapter_target(session, args.payer, args.product)
    if args.config:
        document = json.loads(Path(args.config).read_text(encoding="utf-8"))
        config = document.get("adapter", document)
    if not config or capabilities(config).adjudicates_locally:
        print(f"error: payer {args.payer} has no adapter configured (nothing to check)", file=sys.stderr)
        return 2
    checks = asyncio.run(run_checks(args.payer, config, product, proposing, gateway.today()))
    print((render_json if args.json else render)(args.payer, checks))
    if args.junit:
        Path(args.junit).write_text(render_junit(args.payer, checks), encoding="utf-8")
    return 0 if all(c.passed for c in checks) else 1


def cmd_rerun(args: argparse.Namespace) -> int:
    from gateway.services.decisions import failed_steps, rerun_step

    gateway = _bootstrap()
    with gateway.sessions.begin() as session:
        if args.step_id is None:
            steps = failed_steps(session)
            if not steps:
                print("no dead or refused payer steps")
            for s in steps:
                print(
                    f"{s['step_id']:>8}  {s['status']:<8} {s['claim_number']:<28} {s['payer_code']:<16} "
                    f"{s['product_code']:<20} {s['error']}"
                )
            return 0
        new = rerun_step(session, args.step_id)
    print(f"step {new['rerun_of']} rerun as step {new['step_id']} (key {new['idempotency_key']})")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from gateway.audit import operator
    from reconciliation.run import PHASES, Reconciliation

    gateway = _bootstrap()
    settings = gateway.settings
    day = _date("--date", args.date) if args.date else gateway.today()
    reconciliation = Reconciliation(
        gateway.sessions,
        window_days=settings.settlement_window_days,
        lease_seconds=settings.reconciliation_lease_seconds,
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
    gateway = _bootstrap()
    with gateway.sessions.begin() as session, path.open("rb") as content:  # streamed, never held whole
        summary = import_statement(session, args.payer, content, media, actor=operator())
    print(json.dumps(summary))
    return 0


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


def cmd_schedule(args: argparse.Namespace) -> int:
    import threading
    from datetime import time, timedelta

    from gateway.scheduling import reconcile_once, run_schedule

    gateway = _bootstrap()
    try:
        at = time.fromisoformat(args.at)
    except ValueError as error:
        from gateway.preflight import UserError

        raise UserError(f"--at {args.at}: {error} (a Beijing time of day is HH:MM)") from None
    if args.once:
        day = gateway.today() - timedelta(days=1)
        print(f"reconciliation of {day}: {reconcile_once(gateway, day)}")
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(
        f"reconciling each business date at {at.isoformat('minutes')} Beijing time (Ctrl-C stops)", flush=True
    )
    with contextlib.suppress(KeyboardInterrupt):
        run_schedule(gateway, at, stop)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from gateway.audit_checkpoints import BadCheckpoint, read, verify_against

    try:
        checkpoints = [c for value in args.checkpoint or () for c in read(value)]
    except BadCheckpoint as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    gateway = _bootstrap()
    with gateway.sessions.begin() as session:
        verdict = verify_against(session, checkpoints)
    if verdict.intact:
        reached = f", through {len(checkpoints)} checkpoint(s)" if checkpoints else ""
        print(f"audit trail intact: {verdict.entries} entries{reached}")
        return 0
    print(f"audit trail BROKEN ({verdict.entries} entries read):")
    for problem in verdict.problems:
        print(f"  {problem}")
    return 1


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from gateway.audit_checkpoints import issue

    gateway = _bootstrap()
    with gateway.sessions.begin() as session:
        checkpoint, verdict = issue(session)
    if checkpoint is None:
        print(f"audit trail BROKEN ({verdict.entries} entries read): no checkpoint issued", file=sys.stderr)
        for problem in verdict.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(checkpoint.line())
    print(
        f"checkpoint of {verdict.entries} entries: keep this line outside the database "
        "(audit verify --checkpoint LINE|FILE checks the chain still reaches it)",
        file=sys.stderr,
    )
    return 0


def cmd_data_rekey(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm.attributes import flag_modified

    from gateway.storage.personal import current_key_id
    from gateway.storage.rekey import rekey_messages
    from gateway.storage.tables import MemberRow, MemberVersionRow

    gateway = _bootstrap()
    count = 0
    with gateway.sessions.begin() as session:
        for member in session.scalars(select(MemberRow).with_for_update()):
            # Written again: encrypted under the current data key, and the look-up hash (set by
            # the validator) recomputed under the current lookup key.
            member.id_number = str(member.id_number)
            flag_modified(member, "id_number")
            flag_modified(member, "name")
            count += 1
        for version in session.scalars(select(MemberVersionRow)):  # under the members' locks
            flag_modified(version, "name")
            flag_modified(version, "address_text")
    print(f"re-encrypted {count} members under data key {current_key_id()!r}")
    messages = rekey_messages(gateway.sessions)
    print(
        f"re-encrypted {messages['payer_steps']} stored requests, {messages['outbox']} notices and "
        f"{messages['idempotency_keys']} kept answers under data key {current_key_id()!r}"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ltc-gateway", description=__doc__)
    top.add_argument("--version", action="version", version=f"ltc-gateway {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="API processes")
    p.add_argument(
        "--embedded-workers",
        type=int,
        default=None,
        help="fan-out workers inside each API process (default LTC_EMBEDDED_WORKERS or 0)",
    )
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run the fan-out worker")
    p.add_argument("--once", action="store_true", help="work until nothing is due, then exit")
    p.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations up to the latest").set_defaults(func=cmd_db_upgrade)

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    p = keys.add_parser("create", help="create a key and print it once")
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument("--party", required=True, help="the provider, payer or office code the key acts for")
    p.add_argument("--label", default=None)
    p.set_defaults(func=cmd_keys_create)
    p = keys.add_parser("revoke", help="revoke a key by its id (the part after ltc_)")
    p.add_argument("key_id")
    p.set_defaults(func=cmd_keys_revoke)

    payers = sub.add_parser("payers", help="payers and products").add_subparsers(
        dest="payers_command", required=True
    )
    p = payers.add_parser("load", help="register payers and products from a folder of JSON files")
    p.add_argument("directory")
    p.set_defaults(func=cmd_payers_load)
    payers.add_parser("list", help="list payers and their products").set_defaults(func=cmd_payers_list)

    p = sub.add_parser("adapter-check", help="conformance checks against a payer's own endpoint")
    p.add_argument("payer", help="the payer code, as registered")
    p.add_argument("--product", help="the product to build the sample share from (default: the payer's)")
    p.add_argument("--config", help="check this payer file's adapter instead of the registered one")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML (for CI)")
    p.set_defaults(func=cmd_adapter_check)

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

    p = sub.add_parser("schedule", help="reconcile each business date on a clock (single machine)")
    p.add_argument("--at", default="02:00", help="Beijing time of day to reconcile the day before (HH:MM)")
    p.add_argument("--once", action="store_true", help="reconcile yesterday now, unless already done")
    p.set_defaults(func=cmd_schedule)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="audit_command", required=True
    )
    p = audit.add_parser(
        "verify", help="check the hash chain: exit 1 if an entry was edited, inserted or deleted"
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        metavar="LINE|FILE",
        help="a line from `audit checkpoint` (or a file of them) the chain must still reach; repeatable",
    )
    p.set_defaults(func=cmd_audit_verify)
    audit.add_parser(
        "checkpoint", help="print a MAC'd line of the chain's end now, to keep outside the database"
    ).set_defaults(func=cmd_audit_checkpoint)

    data = sub.add_parser("data", help="personal data at rest").add_subparsers(
        dest="data_command", required=True
    )
    data.add_parser(
        "rekey", help="re-encrypt under the current data key and recompute look-up hashes"
    ).set_defaults(func=cmd_data_rekey)

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

    p = sub.add_parser("rerun", help="re-drive a dead or refused payer step (no STEP_ID: list them)")
    p.add_argument("step_id", type=int, nargs="?")
    p.set_defaults(func=cmd_rerun)
    _add_installed_commands(sub)
    return top


# Commands another distribution adds through the entry-point group: each entry point names a
# function ``(subparsers) -> None`` that adds its subcommand (``set_defaults(func=...)``; optional
# ``json_logs=True``, ``needs_keys=False``). The sandbox's are named here so that, without it,
# they say how to install it instead of being unknown.
COMMANDS_GROUP = "ltc_gateway.commands"
SANDBOX_COMMANDS = ("demo", "sandbox", "reconcile-generate")
SANDBOX_INSTALL = "pip install -e ./sandbox (the ltc-gateway-sandbox distribution)"


def _add_installed_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        if entry.name not in sub.choices:  # an entry point may not shadow a command of the product
            entry.load()(sub)
    for name in SANDBOX_COMMANDS:
        if name not in sub.choices:
            # takes whatever follows, options included (no prefix characters), to say one line
            p = sub.add_parser(name, help=f"(needs the sandbox: {SANDBOX_INSTALL})", prefix_chars="\0")
            p.add_argument("ignored", nargs="*")
            p.set_defaults(func=_not_installed, needs_keys=False)


def _not_installed(args: argparse.Namespace) -> int:
    print(f"error: `ltc-gateway {args.command}` comes with the sandbox: {SANDBOX_INSTALL}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy import exc as sa_exc

    from gateway import environment
    from gateway.config import ConfigError
    from gateway.observability.logging import configure
    from gateway.preflight import UserError, unreachable

    args = parser().parse_args(argv)
    settings = None
    # A fault the user can fix is one line on stderr, never a traceback.
    try:
        settings = load_settings()
        # Services log JSON lines; the commands people read at a terminal log plain text.
        json_logs = args.command in ("serve", "worker", "schedule") or getattr(args, "json_logs", False)
        configure(settings.log_level, json_logs=json_logs)
        environment.check(settings, keys=getattr(args, "needs_keys", True))
        result: int = args.func(args)
        return result
    except ServiceError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        for pointer, detail in error.faults[1:]:
            print(f"       {pointer or '/'}: {detail}", file=sys.stderr)
        return 2
    except (ConfigError, UserError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
        url = settings.database_url if settings else "(unknown)"
        print(f"error: {unreachable(url, error)}", file=sys.stderr)
        return 1
