"""``python -m bench``: run the benchmarks and print one table (medians, each figure beside its
baseline measured in the same run). PostgreSQL from ``LTC_BENCH_DATABASE_URL`` (default the
local server's ``test`` database; every benchmark works in a schema of its own)."""

from __future__ import annotations

import argparse
import sys

from bench import (
    accept,
    batch_upload,
    console_pages,
    coordination,
    end_to_end,
    move_statements,
    payer_calls,
    reconciliation,
    scale_out,
    simulation,
    simulation_phases,
    work_queue,
)
from bench.common import Row, machine, table

ALL = (
    "coordination",
    "accept",
    "end-to-end",
    "reconciliation",
    "load",
    "simulation",
    "batch_upload",
    "work-queue",
    "payer-calls",
    "console-pages",
    "reference-index",
    "scale-out",
    "simulation-phases",
    "move-statements",
)


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    top.add_argument("--only", default=",".join(ALL[:4]), help=f"comma-separated, of {', '.join(ALL)}")
    top.add_argument(
        "--sizes", default="250000,500000,1000000", help="statement lines for the reconciliation benchmark"
    )
    top.add_argument("--seconds", type=int, default=15, help="load duration of the accept benchmark")
    top.add_argument(
        "--calls", type=int, default=200, help="calls per operation of the payer-calls benchmark"
    )
    top.add_argument("--members", type=int, default=50_000, help="the console-pages city's members")
    top.add_argument("--keep", action="store_true", help="keep the console-pages city's schema")
    top.add_argument("--schema", help="measure the console-pages city kept in this schema (no seeding)")
    top.add_argument(
        "--in-flight",
        type=int,
        default=16,
        help="end to end: claims in flight a worker (and a baseline process), at 0 ms payers",
    )
    top.add_argument(
        "--slow-in-flight",
        type=int,
        default=64,
        help="end to end: claims in flight a worker (and a baseline process), at 200 ms payers",
    )
    top.add_argument(
        "--city-copies",
        type=int,
        default=0,
        help="simulation: also a city of 40 generated members copied this many times in the server "
        "(1250: 50,000 members), measured whole and dropped",
    )
    top.add_argument("--scale-claims", type=int, default=200, help="scale-out: claims a measurement")
    top.add_argument(
        "--scale-in-flight", type=int, default=4, help="scale-out: claims in flight a worker, 200 ms payers"
    )
    args = top.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(ALL))
    if unknown:
        top.error(f"unknown benchmarks: {', '.join(unknown)}")
    rows: list[Row] = []
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        if name == "coordination":
            rows += coordination.run()
        elif name == "accept":
            rows += accept.run(seconds=args.seconds)
        elif name == "end-to-end":
            rows += end_to_end.run(concurrency=args.in_flight, slow_concurrency=args.slow_in_flight)
        elif name == "load":
            rows += accept.load()
        elif name == "simulation-phases":
            rows += simulation_phases.run_phases()
        elif name == "simulation":
            rows += simulation.run()
            if args.city_copies:
                rows += simulation.seeded_city_rows(args.city_copies)
        elif name == "batch_upload":
            rows += batch_upload.run()
        elif name == "work-queue":
            rows += work_queue.run()
        elif name == "console-pages":
            rows += console_pages.run(args.members, args.members * 5, schema=args.schema, keep=args.keep)
        elif name == "payer-calls":
            rows += payer_calls.run(args.calls)
        elif name == "reference-index":
            size = int(args.sizes.split(",")[0])
            rows += reconciliation.reference_index_cost(size)
        elif name == "scale-out":
            rows += scale_out.run(args.scale_claims, args.scale_in_flight)
        elif name == "move-statements":
            rows += move_statements.run()
        elif name == "reconciliation":
            rows += reconciliation.run(tuple(int(s) for s in args.sizes.split(",")))
    print(f"Machine: {machine()}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
