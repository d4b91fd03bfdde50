"""Every page of the staff console at a city's volume (issue 22, performance): the bureau's pages
(fund with its district, setting and grade views and its workbook, the supervision queue and
its filters, dead letters, scorecards, routing, the audit search) and the reconcilers' (runs,
the work queue's first, deep, sorted and searched pages, one mismatch), on PostgreSQL, over
the city of ``bench.console_city``: 50,000 members, two years of monthly claims, 250,000 open
mismatches.

Each page is asked for in-process (Starlette's TestClient, signed in as the bureau's ``li`` or
the reconciler ``zhang``) several times; the figure is the median **server time**: wall time
from the request entering the application to the last byte of its answer, and the process's
CPU time over that span (the database's own work is outside it). Beside each, the same page
without the indexes of migration 0034 (dropped and re-created in this run, both ANALYZEd) and
with the fund and scorecards summed from the rows, as before migration 0035: the baseline.
The load average is printed with every row: the machine is shared."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import re
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.common import Row, database_url, fresh_schema
from bench.console_city import seed
from gateway import storage
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.services import fund, supervision
from gateway.services.keys import Role, create_key
from gateway.storage.database import normalise_url
from reconciliation.queue_listing import encode_cursor

TARGET_MS = 300
RUNS = 5
SLOW_MS = 3000  # a page this slow is asked for once: its figure is clear and the run stays short


def _migration(name: str) -> Any:
    path = Path(storage.__file__).parent / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _indexes() -> dict[str, str]:
    """The indexes migration 0034 adds, as DDL: dropped for the baseline, created for the figures."""
    found = {}
    for name, table, columns, ops in _migration("0034_console_indexes").INDEXES:
        keys = ", ".join(f"{column} {ops.get(column, '')}".strip() for column in columns)
        found[name] = f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({keys})"
    return found


@contextlib.contextmanager
def live_figures() -> Iterator[None]:
    """The fund page and the scorecards summing the rows on every request, as before migration
    0035 (the baseline)."""
    from reconciliation.ui import oversight_pages

    report, cards = fund.report, oversight_pages.scorecards
    fund.report = functools.partial(report, live=True)
    oversight_pages.scorecards = functools.partial(cards, live=True)
    try:
        yield
    finally:
        fund.report, oversight_pages.scorecards = report, cards


INDEXES = _indexes()
TABLES = (
    "members", "assessments", "enrollments", "claims", "claim_lines", "line_payments", "payer_steps",
    "ledger_entries", "statements", "statement_lines", "flags", "outbox", "supervision_items",
    "reconciliation_runs", "mismatches", "audit_log", "district_routes", "products", "payers",
)  # fmt: skip


@dataclass
class Clock:
    """Server time of the last request: wall and process CPU, from the app's first to last byte."""

    wall_ms: float = 0.0
    cpu_ms: float = 0.0


def timed(app: ASGIApp, clock: Clock) -> ASGIApp:
    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        await app(scope, receive, send)
        clock.wall_ms = (time.perf_counter() - wall) * 1000
        clock.cpu_ms = (time.process_time() - cpu) * 1000

    return wrapper


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _sign_in(client: TestClient, key: str) -> None:
    page = client.get("/ui/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, "no CSRF field on the sign-in page"
    answer = client.post(
        "/ui/login", data={"key": key, "csrf": csrf.group(1)}, headers={"Origin": "http://testserver"}
    )
    assert answer.status_code == 303, answer.text


def _samples(session: Any, today: date) -> dict[str, str]:
    """Real keys to ask for: a flagged item, a dead step and notice, a mismatched claim's number,
    provider and payer reference, a cursor 200,000 items deep, a claim's audit subject."""

    def one(sql: str) -> Any:
        return session.execute(text(sql)).first()

    active = "status IN ('open', 'pending_approval', 'awaiting_payer', 'carried')"
    depth = min(199_999, one(f"SELECT count(*) FROM mismatches WHERE {active}")[0] * 4 // 5)
    deep = one(
        f"SELECT first_seen, id FROM mismatches WHERE {active} ORDER BY first_seen, id OFFSET {depth} LIMIT 1"
    )
    mismatch = one(
        "SELECT m.id, c.claim_number, c.provider_code, m.claim_id"
        " FROM mismatches m JOIN claims c USING (claim_id)"
        " WHERE m.status = 'open' AND m.id > (SELECT max(id) / 3 FROM mismatches) ORDER BY m.id LIMIT 1"
    )
    reference = one(
        f"SELECT payer_reference FROM statement_lines WHERE claim_id = '{mismatch.claim_id}' LIMIT 1"
    )
    step = one("SELECT step_id FROM payer_steps WHERE status = 'dead' ORDER BY step_id DESC LIMIT 1")
    notice = one("SELECT id FROM outbox WHERE status = 'dead' ORDER BY id LIMIT 1")
    flag = one("SELECT id FROM flags WHERE kind = 'visit_unverified' ORDER BY id DESC LIMIT 1")
    audited = one(
        "SELECT subject FROM audit_log WHERE action = 'claim.received'"
        " AND id > (SELECT max(id) / 2 FROM audit_log) ORDER BY id LIMIT 1"
    )
    second = supervision.list_items(session, {})["next"]
    return {
        "deep": encode_cursor(deep.first_seen, deep.id),
        "mismatch": str(mismatch.id),
        "claim_number": mismatch.claim_number,
        "provider": mismatch.provider_code,
        "reference": reference.payer_reference if reference else "none",
        "step": str(step.step_id),
        "notice": str(notice.id),
        "flag": str(flag.id),
        "subject": audited.subject,
        "supervision_next": second or "",
        "run": (today - timedelta(days=1)).isoformat(),
    }


def pages(s: dict[str, str], today: date) -> list[tuple[str, str, str]]:
    """(group, role, path) of every page measured."""
    year, day = today.year, (today - timedelta(days=200)).isoformat()
    return [
        ("fund", "bureau", "/ui/fund"),
        ("fund", "bureau", f"/ui/fund?year={year - 1}"),
        ("fund", "bureau", "/ui/fund.xlsx"),
        ("supervision", "bureau", "/ui/supervision"),
        ("supervision", "bureau", "/ui/supervision?kind=duplicate_service"),
        ("supervision", "bureau", "/ui/supervision?kind=step_dead&state=all"),
        ("supervision", "bureau", "/ui/supervision?assignee=li"),
        ("supervision", "bureau", "/ui/supervision?state=closed"),
        ("supervision", "bureau", "/ui/supervision?payer=huiminbao"),
        ("supervision", "bureau", "/ui/supervision?" + urlencode({"after": s["supervision_next"]})),
        ("supervision", "bureau", f"/ui/supervision/flag/{s['flag']}"),
        ("dead letters", "bureau", "/ui/dead-letters"),
        ("dead letters", "bureau", f"/ui/dead-letters/{s['step']}"),
        ("dead letters", "bureau", f"/ui/dead-notices/{s['notice']}"),
        ("scorecards", "bureau", "/ui/scorecards"),
        ("scorecards", "bureau", f"/ui/scorecards?year={year - 1}"),
        ("routing", "bureau", "/ui/routing"),
        ("audit", "bureau", "/ui/audit"),
        ("audit", "bureau", "/ui/audit?" + urlencode({"subject": s["subject"]})),
        ("audit", "bureau", "/ui/audit?actor=staff:zhao"),
        ("audit", "bureau", f"/ui/audit?from={day}&to={day}"),
        ("audit", "bureau", f"/ui/audit?action=mismatch.resolve&actor=staff:wu&from={day}"),
        ("runs", "reconciler", "/ui/"),
        ("runs", "reconciler", f"/ui/runs/{s['run']}"),
        ("queue", "reconciler", "/ui/queue"),
        ("queue", "reconciler", "/ui/queue?" + urlencode({"after": s["deep"]})),
        ("queue", "reconciler", "/ui/queue?sort=-difference"),
        ("queue", "reconciler", "/ui/queue?payer=huiminbao&min_amount=100"),
        ("queue", "reconciler", "/ui/queue?kind=DUPLICATE_SETTLEMENT&sort=payer"),
        ("queue", "reconciler", f"/ui/queue?claim_number={s['claim_number']}"),
        ("queue", "reconciler", f"/ui/queue?provider={s['provider']}"),
        ("queue", "reconciler", "/ui/queue?" + urlencode({"reference": s["reference"]})),
        ("queue", "reconciler", f"/ui/mismatches/{s['mismatch']}"),
    ]


def _measure(client: TestClient, clock: Clock, path: str, runs: int) -> tuple[float, float, int]:
    walls, cpus = [], []
    for _ in range(runs):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        walls.append(clock.wall_ms)
        cpus.append(clock.cpu_ms)
        if clock.wall_ms > SLOW_MS:
            break
    return statistics.median(walls), statistics.median(cpus), len(walls)


def _reindex(gateway: Any, create: bool) -> None:
    """Drop or create again the indexes of migration 0034, then ANALYZE (the baseline's plans)."""
    with gateway.sessions.begin() as session:
        for name, ddl in INDEXES.items():
            session.execute(text(ddl if create else f"DROP INDEX IF EXISTS {name}"))
    with gateway.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in TABLES:
            connection.execute(text(f"ANALYZE {table}"))


@contextlib.contextmanager
def city(members: int, open_items: int, schema: str | None, keep: bool = False) -> Iterator[str]:
    """A seeded city: a fresh schema (dropped afterwards), or the kept ``schema`` of an earlier
    run (``--keep``), seeded once: the seeding takes minutes, a page's measure seconds."""
    if schema:
        yield (
            make_url(normalise_url(database_url()))
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        return
    with fresh_schema("console", keep=keep) as url:
        gateway = bootstrap(Settings(database_url=url))
        started = time.perf_counter()
        with gateway.sessions.begin() as session:
            counted = seed(session, gateway.today(), members, open_items)
        gateway.close()
        print(f"seeded in {time.perf_counter() - started:.0f} s: {counted}", file=sys.stderr, flush=True)
        yield url


def run(
    members: int = 50_000,
    open_items: int = 250_000,
    runs: int = RUNS,
    schema: str | None = None,
    keep: bool = False,
) -> list[Row]:
    rows: list[Row] = []
    with city(members, open_items, schema, keep) as url:
        gateway = bootstrap(Settings(database_url=url))
        today = gateway.today()
        with gateway.sessions.begin() as session:
            keys = {
                "bureau": create_key(session, Role.BUREAU, "li")[1],
                "reconciler": create_key(session, Role.RECONCILER, "zhang")[1],
            }
        _reindex(gateway, create=True)
        with gateway.sessions.begin() as session:
            samples = _samples(session, today)
        from ltc_gateway.app import create_app

        clock = Clock()
        app = timed(create_app(gateway, embedded_workers=0), clock)
        clients = {role: TestClient(app, follow_redirects=False) for role in keys}
        for role, client in clients.items():
            client.__enter__()
            _sign_in(client, keys[role])
        measured: dict[str, tuple[float, float, int]] = {}
        baseline: dict[str, tuple[float, float, int]] = {}
        listing = pages(samples, today)
        if INDEXES:
            _reindex(gateway, create=False)
            with live_figures():
                for _, role, path in listing:
                    baseline[path] = _measure(clients[role], clock, path, max(3, runs // 2))
            _reindex(gateway, create=True)
        for group, role, path in listing:
            measured[path] = _measure(clients[role], clock, path, runs)
            wall, cpu, asked = measured[path]
            before = baseline.get(path)
            rows.append(
                Row(
                    f"{group}: {path[:70]}",
                    wall,
                    "ms wall",
                    before[0] if before else None,
                    "no 0034 indexes, figures live" if before else "",
                    f"≤ {TARGET_MS} ms",
                    wall <= TARGET_MS,
                    f"CPU {cpu:.0f} ms, {asked} asked, load {_load()}",
                )
            )
        for client in clients.values():
            client.__exit__(None, None, None)
        gateway.close()
    return rows


if __name__ == "__main__":
    from bench.common import table

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    reuse = sys.argv[2] if len(sys.argv) > 2 else None
    print(table(run(size, size * 5, schema=reuse, keep=not reuse)))
