"""``python -m tests.simulation --seed 7 --claims 200 [--kills 5]``: one seeded fault-simulation run,
reported; exit 1 if any check failed (the seed reproduces it)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator

from bench.common import fresh_schema
from tests.simulation.harness import run


def main() -> int:
    top = argparse.ArgumentParser(prog="python -m tests.simulation", description=__doc__)
    top.add_argument("--seed", type=int, action="append", help="repeatable; default 1")
    top.add_argument("--claims", type=int, default=100)
    top.add_argument("--kills", type=int, default=3)
    top.add_argument("--database-url", default=os.environ.get("LTC_SIMULATION_DATABASE_URL"))
    args = top.parse_args()
    failed = False
    for seed in args.seed or [1]:
        with _database(args.database_url) as url:
            report = run(seed, args.claims, url, kills=args.kills)
        print(report.text(), flush=True)
        failed = failed or bool(report.violations)
    return 1 if failed else 0


@contextlib.contextmanager
def _database(url: str | None) -> Iterator[str | None]:
    """On PostgreSQL each seed runs in a schema of its own, dropped afterwards: in one database
    the seeds' claim numbers would collide. Without a URL each run makes a SQLite file."""
    if url is None or not url.startswith("postgres"):
        yield url
        return
    with fresh_schema("simulation", url) as own:
        yield own


if __name__ == "__main__":
    sys.exit(main())
