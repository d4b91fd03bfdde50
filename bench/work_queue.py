"""The reconcilers' work queue at volume (issue 22 section 2), on PostgreSQL: 250,000 open items.

* a queue page (50 items with their totals over the whole selection), as the use case answers
  it: the first page, a page 200,000 items deep by its keyset cursor, sorted by difference, and
  filtered by payer and amount; beside it the same depth by OFFSET (how the queue paged before);
* the whole staff page (``GET /ui/queue``, signed in: session, query, template) in-process;
* the export: every item as XLSX (xlsxwriter, constant memory) and CSV, with the process's peak
  resident memory after 25,000 and after 250,000 rows (flat: the second is not ten times the
  first's growth).

Figures are medians of CPU time (``time.process_time``, this process: the database's own work is
outside it) and wall time; the machine is shared, so wall times are noisy."""

from __future__ import annotations

import itertools
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import text
from starlette.testclient import TestClient

from bench.common import Row, fresh_schema
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.services.keys import Role, create_key
from gateway.storage.tables import utcnow
from reconciliation.queue_listing import encode_cursor, every_row, list_mismatches
from reconciliation.ui.exports import _records, write_xlsx
from reconciliation.ui.i18n import translator

ITEMS = 250_000
TARGET_MS = 300
KINDS = ("AMOUNT_MISMATCH", "MISSING_AT_PAYER", "DUPLICATE_SETTLEMENT", "STALE_COORDINATION")
_PLANT = """
INSERT INTO mismatches (kind, payer_code, claim_id, line_no, expected_fen, settled_fen, difference_fen,
                        status, first_seen, last_seen, last_run_id, created_at, updated_at)
SELECT (ARRAY['AMOUNT_MISMATCH','MISSING_AT_PAYER','DUPLICATE_SETTLEMENT','STALE_COORDINATION'])[1 + i % 4],
       (ARRAY['ltc-admin-east','huiminbao','acme-life'])[1 + i % 3],
       md5(i::text)::uuid, 1 + i % 10, 120000, 120000 + (i * 7919) % 400000 - 200000,
       (i * 7919) % 400000 - 200000, 'open', :d - (i % 60), :d, 1, :now, :now
FROM generate_series(1, :n) AS i
"""


def _timed(work: Callable[[], Any]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000


def _medians(runs: int, work: Callable[[], Any]) -> tuple[float, float]:
    samples = [_timed(work) for _ in range(runs)]
    return (
        sorted(s[0] for s in samples)[runs // 2],
        sorted(s[1] for s in samples)[runs // 2],
    )


def run() -> list[Row]:
    rows: list[Row] = []
    with fresh_schema("queue") as url:
        gateway = bootstrap(Settings(database_url=url))
        today = date.today()
        with gateway.sessions.begin() as session:
            session.execute(text(_PLANT), {"n": ITEMS, "d": today, "now": utcnow()})
            session.execute(text("ANALYZE mismatches"))
            key = create_key(session, Role.RECONCILER, "zhang")[1]

        def page(query: dict[str, str]) -> dict[str, Any]:
            with gateway.sessions.begin() as session:
                return list_mismatches(session, query, today)

        with gateway.sessions.begin() as session:  # the cursor 200,000 items in
            seen, row_id = session.execute(
                text("SELECT first_seen, id FROM mismatches ORDER BY first_seen, id OFFSET 199999 LIMIT 1")
            ).one()
        deep = {"after": encode_cursor(seen, row_id)}
        offset_cpu, offset_wall = _medians(5, lambda: page({"offset": "200000"}))
        cases = {
            "first page": {},
            "page 4,001 (keyset)": deep,
            "sorted by difference": {"sort": "-difference"},
            "payer + min. amount": {"payer": "huiminbao", "min_amount_fen": "100000"},
        }
        for name, query in cases.items():
            cpu, wall = _medians(5, lambda q=query: page(q))  # type: ignore[misc]
            rows.append(
                Row(
                    f"queue: {name}, {ITEMS:,} open",
                    wall,
                    "ms wall",
                    offset_wall,
                    "OFFSET 200,000",
                    f"≤ {TARGET_MS} ms",
                    wall <= TARGET_MS,
                    f"CPU {cpu:.0f} ms (OFFSET {offset_cpu:.0f} ms)",
                )
            )
        from ltc_gateway.app import create_app

        with TestClient(create_app(gateway, embedded_workers=0)) as client:
            login = client.get("/ui/login").text
            csrf = login.split('name="csrf" value="')[1].split('"')[0]
            client.post("/ui/login", data={"key": key, "csrf": csrf}, headers={"Origin": "http://testserver"})
            cpu, wall = _medians(5, lambda: client.get("/ui/queue").raise_for_status())
            rows.append(
                Row(
                    "queue: GET /ui/queue, whole page",
                    wall,
                    "ms wall",
                    None,
                    "",
                    f"≤ {TARGET_MS} ms",
                    wall <= TARGET_MS,
                    f"CPU {cpu:.0f} ms (server and client in one process)",
                )
            )
        t = translator("zh")

        def export(limit: int, kind: str) -> tuple[float, int]:
            start = time.perf_counter()
            with gateway.sessions.begin() as session:
                items = itertools.islice(every_row(session, {}, today), limit)
                if kind == "xlsx":
                    with tempfile.NamedTemporaryFile(suffix=".xlsx") as out:
                        write_xlsx(out.name, items, t)
                else:
                    for _ in _records(items, t):
                        pass
            return time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        small_s, small_mb = export(25_000, "xlsx")
        big_s, big_mb = export(ITEMS, "xlsx")
        rows.append(
            Row(
                f"export XLSX, {ITEMS:,} rows",
                big_s,
                "s wall",
                small_s * 10,
                "10 × 25,000 rows",
                "flat memory",
                big_mb - small_mb < max(50, small_mb - before),
                f"peak RSS {before} → {small_mb} MB (25,000) → {big_mb} MB ({ITEMS:,})",
            )
        )
        gateway.close()
    return rows


if __name__ == "__main__":
    from bench.common import table

    print(table(run()))
