"""Setting the gateway up and keeping it: the schema, keys, payers and products, a payer's
conformance, and re-driving a failed payer step."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gateway.config import load_settings
from gateway.services.keys import Role
from ltc_gateway.cli.common import Subparsers, bootstrap_migrated


def add(sub: Subparsers) -> None:
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

    p = sub.add_parser("rerun", help="re-drive a dead or refused payer step (no STEP_ID: list them)")
    p.add_argument("step_id", type=int, nargs="?")
    p.set_defaults(func=cmd_rerun)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from gateway.storage.migrate import head_revision, upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    print(f"database at revision {head_revision()}")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from gateway.audit import operator
    from gateway.services.keys import create_key

    gateway = bootstrap_migrated()
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

    gateway = bootstrap_migrated()
    with gateway.sessions.begin() as session:
        found = revoke_key(session, args.key_id, operator())
    if not found:
        print(f"error: no key {args.key_id}", file=sys.stderr)
        return 2
    print(f"key {args.key_id} revoked: it no longer works, on every process")
    return 0


def cmd_payers_load(args: argparse.Namespace) -> int:
    from gateway.reference.registry import load_dir

    gateway = bootstrap_migrated()
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
    from gateway.reference.registry import list_payers

    gateway = bootstrap_migrated()
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
    from gateway.reference.registry import adapter_target

    gateway = bootstrap_migrated()
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

    gateway = bootstrap_migrated()
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
