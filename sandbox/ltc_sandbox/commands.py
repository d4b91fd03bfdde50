"""The sandbox's ``ltc-gateway`` commands, added through the ``ltc_gateway.commands`` entry-point
group (each entry point names a function that adds its subcommand to the CLI's subparsers): the
product's CLI knows them by name only, so it runs without the sandbox installed."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

from examples import example_products
from gateway.config import load_settings

# what ``ltc-gateway``'s parser hands each entry point (argparse does not export the name)
Subparsers = argparse._SubParsersAction


def demo(sub: Subparsers) -> None:
    p = sub.add_parser("demo", help="run the worked example end to end through a real server")
    p.add_argument("--once", action="store_true", help="exit after printing the result")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.set_defaults(func=cmd_demo, needs_keys=False)


def sandbox(sub: Subparsers) -> None:
    p = sub.add_parser("sandbox", help="serve the sandbox payers (REST and SOAP) the demo and tests use")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="the first of four consecutive ports (0: free ones)")
    p.add_argument("--write-config", metavar="DIR", help="write payer files for `payers load` here")
    p.add_argument(
        "--hsa", action="store_true", help="tier 1 east speaks the 医保信息平台 profile (keys written to DIR)"
    )
    p.set_defaults(func=cmd_sandbox, needs_keys=False, json_logs=True)


def reconcile_generate(sub: Subparsers) -> None:
    p = sub.add_parser("reconcile-generate", help="generate a night with every kind of mismatch planted")
    p.add_argument("--claims", type=int, default=1, help="claims per planted kind")
    p.add_argument("--matched", type=int, default=2, help="claims that settle exactly")
    p.set_defaults(func=cmd_reconcile_generate)


def cmd_demo(args: argparse.Namespace) -> int:
    from ltc_sandbox.demo import demo

    logging.getLogger("ltc_gateway").setLevel(logging.WARNING)  # the demo prints its own story
    sys.unraisablehook = lambda _: None  # nor what a library's __del__ says while the process ends
    return demo(load_settings(), once=args.once, as_json=args.json, host=args.host, port=args.port)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from gateway.domain.products import Product
    from ltc_sandbox.payer_set import SandboxPayers

    if args.hsa and not args.write_config:
        print("error: --hsa needs --write-config DIR (its keys are written there)", file=sys.stderr)
        return 2
    products = [Product.model_validate(p) for p in example_products()]
    sandboxes = SandboxPayers(products, args.host, args.port, hsa=args.hsa).start()
    try:
        if args.write_config:
            folder = Path(args.write_config)
            folder.mkdir(parents=True, exist_ok=True)
            for document in sandboxes.payer_documents(key_dir=folder if args.hsa else None):
                path = folder / f"payer-{document['payer_code']}.json"
                path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            print(f"payer files written to {folder} (load them with: ltc-gateway payers load {folder})")
        for code, payer in sandboxes.payers.items():
            print(f"{code:<16} {payer.mode:<8} {sandboxes.url(code)}")
        print("serving the sandbox payers (Ctrl-C stops them)", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        sandboxes.stop()


def cmd_reconcile_generate(args: argparse.Namespace) -> int:
    from gateway.bootstrap import bootstrap
    from gateway.storage.migrate import upgrade_engine
    from ltc_sandbox.generator import generate_night

    logging.getLogger("ltc_gateway").setLevel(logging.WARNING)  # the generator prints its own summary
    gateway = bootstrap(load_settings())
    upgrade_engine(gateway.engine)
    night = generate_night(gateway, args.claims, args.matched)
    planted = Counter(kind for kind, *_ in night.expected)
    print(
        f"generated a night for {night.business_date}: {len(night.claims)} claims, "
        f"{night.matched} lines settle exactly"
    )
    for kind, count in sorted(planted.items()):
        print(f"  planted {kind:<22} {count}")
    print(f"run it with: ltc-gateway reconcile --date {night.business_date}")
    return 0
