"""Reconciliation of N statement lines: two payers' CSV statements imported through the service
(``import_statement``) and the nightly run for their date, in a child process whose peak memory
is read; beside it, on the same data, the raw-SQL baseline: COPY the same files into a table and
one join of their sums with the ledger's. Each size runs both in alternating rounds on the same
data and compares the medians.

Data: N/2 claims of one line, each expected from two payers (the ledger, written in SQL); the
statements settle every key, 1 % short, and leave 0.1 % out: every payer's totals differ and
every key is matched line by line (level 2). At the largest size, a second night whose statements
settle every key exactly: the totals agree (level 1) and no key is matched line by line.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import Row, fresh_schema
from gateway.storage.personal import encrypt, lookup_hash
from reconciliation.sql.tuning import WORK_MEM

BUSINESS_DATE = date(2026, 11, 30)
PAYERS = ("bench-a", "bench-b")
TARGET_SECONDS, TARGET_RSS_MB, FLAT = 60.0, 512, 1.2


def claim_id(i: int) -> str:
    digest = hashlib.md5(f"c{i}".encode()).hexdigest()  # the same as PostgreSQL's md5(...)::uuid
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def populate(url: str, claims: int) -> None:
    engine = create_engine(url)
    ledger_day = BUSINESS_DATE - timedelta(days=10)
    with engine.begin() as c:
        c.execute(
            text("INSERT INTO payers (payer_code, created_at) VALUES ('bench-a', now()), ('bench-b', now())")
        )
        c.execute(
            text(
                "INSERT INTO providers (provider_code, name, district, designated, created_at, updated_at) "
                "VALUES ('BENCH', 'bench', '330102', true, now(), now())"
            )
        )
        c.execute(
            text(
                "INSERT INTO members (member_id, id_hash, id_number_enc, created_at, updated_at) "
                "VALUES ('00000000-0000-0000-0000-000000000001', :hash, :enc, now(), now())"
            ),
            {"hash": lookup_hash("11010519491231002X"), "enc": encrypt("11010519491231002X")},
        )
        c.execute(
            text(
                """INSERT INTO assessments (assessment_id, member_id, agency_code, concluded_on,
                   disabled_since, scores, adl_score, adl_level, cognition_score, cognition_level,
                   perception_score, perception_level, grade, effective_from, valid_until, request_digest,
                   created_at)
                   VALUES ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001',
                   'BENCH', '2026-09-01', '2026-01-01', '{}', 35, 'severe', 8, 'moderate', 12, 'intact', 4,
                   '2026-09-02', '2028-09-01', 'x', now())"""
            )
        )
        c.execute(
            text(
                """INSERT INTO claims (claim_id, provider_code, claim_number, member_id, assessment_id,
                   period_start, period_end, status, billed_fen, round, request_digest, created_at,
                   updated_at)
                   SELECT md5('c' || i)::uuid, 'BENCH', 'B-' || i, '00000000-0000-0000-0000-000000000001',
                   '00000000-0000-0000-0000-000000000002', '2026-11-01', '2026-11-30', 'coordinated',
                   200000, 1, 'x', now(), now() FROM generate_series(1, :n) i"""
            ),
            {"n": claims},
        )
        c.execute(
            text(
                """INSERT INTO claim_lines (claim_id, line_no, service_code, setting, method, service_date,
                   quantity, unit_price_fen, billed_fen)
                   SELECT md5('c' || i)::uuid, 1, 'INST-BED-DAY', 'institutional', 'per_diem',
                   '2026-11-01', 1, 200000, 200000 FROM generate_series(1, :n) i"""
            ),
            {"n": claims},
        )
        c.execute(
            text(
                """INSERT INTO ledger_entries (payer_code, claim_id, line_no, product_code, kind, amount_fen,
                   round, business_date, created_at)
                   SELECT p, md5('c' || i)::uuid, 1, 'BENCH', 'payment', 100000, 1, :day, now()
                   FROM generate_series(1, :n) i, (VALUES ('bench-a'), ('bench-b')) v(p)"""
            ),
            {"n": claims, "day": ledger_day},
        )
    engine.dispose()
    settle(url)


def settle(url: str) -> None:
    """The database as a night finds it: the ledger written on earlier days and already vacuumed
    (as autovacuum would have), and no checkpoint owed. Otherwise autovacuum and a checkpoint
    forced by the set-up's writes land inside whichever measurement runs next."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text("VACUUM ANALYZE ledger_entries, claim_lines, claims"))
        c.execute(text("CHECKPOINT"))
    engine.dispose()


def statements(folder: Path, claims: int, agree: bool = False) -> list[Path]:
    files = []
    day = BUSINESS_DATE.isoformat()
    for payer in PAYERS:
        path = folder / ("agree" if agree else "differ") / f"{payer}.csv"
        path.parent.mkdir(exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            out.write("claim_id,line_no,paid_fen,payer_reference,settled_on\n")
            for i in range(1, claims + 1):
                if i % 1000 == 0 and not agree:
                    continue  # missing at the payer
                paid = 99000 if i % 100 == 0 and not agree else 100000
                out.write(f"{claim_id(i)},1,{paid},{payer}-{i},{day}\n")
        files.append(path)
    return files


CHILD = """
import json, os, resource, sys, time
from pathlib import Path
from sqlalchemy import event
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from reconciliation.run import Reconciliation
from reconciliation.statements import import_statement
from datetime import date

url, day, files = sys.argv[1], date.fromisoformat(sys.argv[2]), sys.argv[3:]
gateway = bootstrap(Settings(database_url=url))
gateway.engine.dispose()
backends = set()  # the server processes of this child's connections: their CPU is the run's SQL


@event.listens_for(gateway.engine, "connect")
def _backend(connection, record):
    cursor = connection.cursor()
    cursor.execute("SELECT pg_backend_pid()")
    backends.add(cursor.fetchone()[0])
    cursor.close()


def cpu():
    tick = os.sysconf("SC_CLK_TCK")
    server = 0.0
    for pid in backends:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            server += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime, server


started = time.perf_counter()
import_client, import_server = cpu()
for name in files:
    with gateway.sessions.begin() as session, open(name, "rb") as statement:
        import_statement(session, Path(name).stem, statement, "text/csv")
imported = time.perf_counter()
client_before, server_before = cpu()
import_cpu = (client_before - import_client, server_before - import_server)
# LTC_BENCH_WATCHED=1: as a run started from the console, watched line by line (a payer at a time)
watched = {"lines": lambda *report: None} if os.environ.get("LTC_BENCH_WATCHED") == "1" else {}
result = Reconciliation(gateway.sessions, window_days=5).run(day, **watched)
client_after, server_after = cpu()
finished = time.perf_counter()
peak_kb = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))
print(json.dumps({"import": imported - started, "run": finished - imported, "peak_mb": peak_kb / 1024,
                  "run_cpu_client": client_after - client_before,
                  "run_cpu_server": server_after - server_before,
                  "import_cpu_client": import_cpu[0], "import_cpu_server": import_cpu[1],
                  "kinds": result["counts"]["kinds"], "levels": result["counts"].get("levels", {})}))
"""


def gateway_path(url: str, files: list[Path]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, BUSINESS_DATE.isoformat(), *map(str, files)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def baseline(url: str, files: list[Path]) -> float:
    """COPY the files into a table and join their sums with the ledger's: the least any tool does."""
    parsed = make_url(url)
    options = parsed.query.get("options")
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False).split("?")[0]
    started = time.perf_counter()
    with psycopg.connect(dsn, options=str(options) if options else None) as connection:
        with connection.cursor() as cursor:
            # the memory the gateway's import and pass are given (reconciliation.sql.tuning)
            cursor.execute(f"SET work_mem = '{WORK_MEM}'")
            cursor.execute(
                "CREATE TEMP TABLE raw_statement (claim_id uuid, line_no int, paid_fen bigint, "
                "payer_reference text, settled_on date, payer_code text)"
            )
            for path in files:
                with (
                    cursor.copy(
                        "COPY raw_statement (claim_id, line_no, paid_fen, payer_reference, settled_on) "
                        "FROM STDIN WITH (FORMAT csv, HEADER true)"
                    ) as copy,
                    path.open("rb") as source,
                ):
                    while chunk := source.read(1 << 20):
                        copy.write(chunk)
                cursor.execute(
                    "UPDATE raw_statement SET payer_code = %s WHERE payer_code IS NULL", (path.stem,)
                )
            cursor.execute(
                """SELECT count(*) FILTER (WHERE coalesce(e.expected, 0) <> coalesce(s.settled, 0))
                   FROM (SELECT payer_code, claim_id, line_no, sum(amount_fen) expected FROM ledger_entries
                         GROUP BY 1, 2, 3) e
                   FULL JOIN (SELECT payer_code, claim_id, line_no, sum(paid_fen) settled FROM raw_statement
                         GROUP BY 1, 2, 3) s USING (payer_code, claim_id, line_no)"""
            )
            cursor.fetchone()
        connection.rollback()
    return time.perf_counter() - started


def _flat(peaks: list[tuple[int, float]]) -> bool:
    """Peak memory flat as the size grows: the largest size's within 20 % of the smallest's."""
    ordered = sorted(peaks)
    return ordered[-1][1] <= FLAT * ordered[0][1]


def forget(url: str) -> None:
    """Everything the gateway path wrote, gone: the next round imports and runs the same night."""
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(
            text(
                "TRUNCATE statements, statement_lines, reconciliation_runs, reconciliation_results, "
                "reconciliation_totals, mismatches, mismatch_actions"
            )
        )
    engine.dispose()


def run(sizes: tuple[int, ...] = (250_000, 500_000, 1_000_000), rounds: int = 3) -> list[Row]:
    """Per size, ``rounds`` alternating rounds of the baseline and the gateway path on the same
    data; the medians are compared (one round of either swings by a fifth on this machine)."""
    rows: list[Row] = []
    peaks: list[tuple[int, float]] = []
    for lines in sizes:
        claims = lines // 2
        bases: list[float] = []
        rounds_measured: list[dict[str, Any]] = []
        largest = lines == max(sizes)
        agreeing: list[dict[str, Any]] = []
        with fresh_schema("bench_recon") as url, tempfile.TemporaryDirectory() as folder:
            populate(url, claims)
            files = statements(Path(folder), claims)
            agree = statements(Path(folder), claims, agree=True) if largest else []
            for _ in range(rounds):
                bases.append(baseline(url, files))
                settle(url)
                rounds_measured.append(gateway_path(url, files))
                forget(url)
                settle(url)
                if agree:  # the night whose totals agree, on the same data, in the same rounds
                    agreeing.append(gateway_path(url, agree))
                    forget(url)
                    settle(url)
        base = statistics.median(bases)
        total = statistics.median(m["import"] + m["run"] for m in rounds_measured)
        imported = statistics.median(m["import"] for m in rounds_measured)
        ran = statistics.median(m["run"] for m in rounds_measured)
        peak = max(m["peak_mb"] for m in rounds_measured)
        peaks.append((lines, peak))
        rows.append(
            Row(
                f"reconciliation {lines:,} lines",
                total,
                "s",
                baseline=base,
                baseline_name="COPY + join",
                target=f"<= {TARGET_SECONDS:.0f} s, <= 2x baseline, RSS < {TARGET_RSS_MB} MB and flat"
                if largest
                else "",
                met=(total <= TARGET_SECONDS and total <= 2 * base and peak < TARGET_RSS_MB and _flat(peaks))
                if largest
                else None,
                note=f"median of {rounds} alternating rounds: import {imported:.1f} s + run {ran:.1f} s, "
                f"the run's CPU {statistics.median(m['run_cpu_client'] for m in rounds_measured):.1f} s "
                f"here + {statistics.median(m['run_cpu_server'] for m in rounds_measured):.1f} s in "
                f"PostgreSQL, peak RSS {peak:.0f} MB; {json.dumps(rounds_measured[-1]['kinds'])}; "
                f"{json.dumps(rounds_measured[-1]['levels'])}",
            )
        )
        if agreeing:
            agreed_run = statistics.median(m["run"] for m in agreeing)
            agreed_total = statistics.median(m["import"] + m["run"] for m in agreeing)
            rows.append(
                Row(
                    f"reconciliation {lines:,} lines, totals agree",
                    agreed_total,
                    "s",
                    baseline=base,
                    baseline_name="COPY + join",
                    target="<= 2x baseline; no key matched line by line",
                    met=agreed_total <= 2 * base and agreeing[-1]["levels"].get("keys_examined") == 0,
                    note=f"median of {rounds} rounds: import "
                    f"{statistics.median(m['import'] for m in agreeing):.1f} s "
                    f"+ run {agreed_run:.1f} s (the differing night's run: {ran:.1f} s); "
                    f"{json.dumps(agreeing[-1]['levels'])}",
                )
            )
    return rows


def reference_index_cost(
    lines: int = 250_000, rounds: int = 3, prefix: str = "bench_recon_index"
) -> list[Row]:
    """What the index on ``statement_lines.payer_reference`` (the work queue's search by payer
    reference) costs a statement import: the same night imported with the hash index migration
    0038 made it, with the B-tree migration 0034 made first, and without either, in alternating
    rounds on the same data; medians of wall and CPU time."""
    claims = lines // 2
    kinds = {
        "hash": "CREATE INDEX ix_statement_lines_reference ON statement_lines USING hash (payer_reference)",
        "btree": "CREATE INDEX ix_statement_lines_reference ON statement_lines (payer_reference)",
        "none": None,
    }
    measured: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    with fresh_schema(prefix) as url, tempfile.TemporaryDirectory() as folder:
        populate(url, claims)
        files = statements(Path(folder), claims)
        engine = create_engine(url)
        for _ in range(rounds):
            for kind, ddl in kinds.items():
                with engine.begin() as c:
                    c.execute(text("DROP INDEX IF EXISTS ix_statement_lines_reference"))
                    if ddl:
                        c.execute(text(ddl))
                settle(url)
                measured[kind].append(gateway_path(url, files))
                forget(url)
        engine.dispose()

    def median(kind: str, key: str) -> float:
        return statistics.median(m[key] for m in measured[kind])

    def cpu(kind: str) -> str:
        return f"{median(kind, 'import_cpu_client'):.1f} s + {median(kind, 'import_cpu_server'):.1f} s"

    return [
        Row(
            f"statement import, {lines:,} lines, with the payer-reference index (hash)",
            median("hash", "import"),
            "s",
            baseline=median("none", "import"),
            baseline_name="without it",
            note=f"median of {rounds} alternating rounds; import CPU here + in PostgreSQL: {cpu('hash')}"
            f" (B-tree {cpu('btree')}, {median('btree', 'import'):.1f} s; without an index {cpu('none')});"
            f" the run {median('hash', 'run'):.1f} s (without {median('none', 'run'):.1f} s)",
        )
    ]
