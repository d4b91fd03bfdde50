"""What a claim's fan-out asks of the database: one ``Worker`` in this process coordinating
``claims`` claims with ``in_flight`` in flight through the sandbox payers at 0 ms, every statement
the engine runs counted (by its first words) and every commit. A count, not a time: it moves only
with the code, so a change to the moves shows in it on any machine (docs/scaling.md, "Third
round"). Run by ``python -m bench --only move-statements``."""

from __future__ import annotations

import collections
from typing import Any

from sqlalchemy import event

from bench.common import Row, fresh_schema
from bench.end_to_end import _prepare, _products
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.domain.products import Product
from gateway.orchestration.worker import Worker
from ltc_sandbox.payer_set import SandboxPayers


def count(claims: int = 100, in_flight: int = 16) -> tuple[float, float, collections.Counter[str], list[int]]:
    """Statements a claim, commits a claim, statements by kind (in all), the group sizes."""
    products = [Product.model_validate(p) for p in _products()]
    kinds: collections.Counter[str] = collections.Counter()
    commits = 0
    with fresh_schema("bench_moves") as url:
        sandboxes = SandboxPayers(products).start()
        try:
            _prepare(url, sandboxes, claims)
            gateway = bootstrap(Settings(database_url=url))

            @event.listens_for(gateway.engine, "before_cursor_execute")
            def _counted(_c: Any, _cursor: Any, statement: str, *_args: Any) -> None:
                kinds[" ".join(statement.split()[:3])[:40]] += 1

            @event.listens_for(gateway.engine, "commit")
            def _committed(_c: Any) -> None:
                nonlocal commits
                commits += 1

            worker = Worker(gateway.sessions, gateway.catalogue, concurrency=in_flight, batch=in_flight)
            worker.drain()
            gateway.close()
        finally:
            sandboxes.stop()
    return sum(kinds.values()) / claims, commits / claims, kinds, list(worker.moves.sizes)


def run(claims: int = 100, in_flight: int = 16) -> list[Row]:
    statements, commits, kinds, sizes = count(claims, in_flight)
    top = ", ".join(f"{n / claims:.1f} {kind}" for kind, n in kinds.most_common(6))
    groups = collections.Counter(sizes).most_common(5)
    return [
        Row(
            f"fan-out statements a claim (1 worker in process, {claims} claims, {in_flight} in flight, "
            "0 ms payers)",
            statements,
            "statements",
            note=f"{commits:.2f} commits a claim; most: {top}; group sizes (size, groups) of the last "
            f"hundred: {groups}",
        )
    ]
