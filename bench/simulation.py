"""The policy simulation's replay: claim lines re-coordinated per second, beside the coordination
core's figure from the same run. Every figure is given in wall clock and in CPU-seconds a million
lines (the machine is shared: wall clock moves with the others' load, CPU time much less), with
the peak RSS of the processes that did the work and the load average at the start and the end.

* pure replay, one process: members of 12 monthly claims of 10 lines (the coordination
  benchmark's claims), under the worked example's four products recomputed by the gateway's
  rules, limits carried across claims;
* the same on N processes, a shard of members each: each builds its own shard's facts (nothing
  is sent from the parent, as ``simulation.run``'s processes read their own shard), all start
  together, timed from the first start to the last finish; lines per CPU-second × N is the quiet
  machine's projection;
* read + replay from a database: a generated city (the production path), copied to more
  members (on PostgreSQL in the server, ``city_copies.multiply_in_sql``), replayed with
  ``simulation.run.compute`` (streamed in shards of members), on SQLite and on PostgreSQL, in
  one process and in N; at two sizes on SQLite and three on PostgreSQL, to show the time grows
  with the lines and the memory stays flat; each with the year of 6 million lines it projects.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench import city_copies, coordination, server_cpu
from bench.common import Row, database_url, fresh_schema
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.domain.coverage import Coverage
from gateway.simulation import city
from gateway.simulation.history import Period
from gateway.simulation.replay import ClaimFact, MemberHistory, RoundFact, StepFact, replay
from gateway.simulation.run import Inputs, compute
from gateway.storage.database import normalise_url
from gateway.storage.migrate import upgrade_engine

TARGET = 100_000
YEAR_LINES = 6_000_000  # a year of a 50,000-member city (issue 24)
YEAR_TARGET_S = 90
CLAIMS_A_MEMBER = 12


@cache
def _coverages() -> tuple[Coverage, ...]:
    return tuple(coordination._products())


def _history(m: int) -> MemberHistory:
    coverages = _coverages()
    steps = tuple(
        StepFact(seq, c.product, c.start_date, c.end_date) for seq, c in enumerate(coverages, start=1)
    )
    claims = []
    for month in range(1, CLAIMS_A_MEMBER + 1):
        case = coordination._case(m * CLAIMS_A_MEMBER + month)
        shift = date(2026, month, 1) - date(2026, 11, 1)
        lines = tuple(
            line.model_copy(
                update={
                    "service_date": line.service_date + shift,
                    "service_end_date": line.service_end_date and line.service_end_date + shift,
                }
            )
            for line in case.lines
        )
        claims.append(ClaimFact(f"{m}-{month}", replace(case, lines=lines)))
    rounds = tuple(RoundFact(i, 1, steps) for i in range(len(claims)))
    return MemberHistory(f"M-{m}", tuple(claims), rounds)


@dataclass(frozen=True)
class Span:
    """What one process did: when it started and finished (one clock for every process), its
    lines, the CPU-seconds it spent replaying them and its peak RSS."""

    began: float
    ended: float
    lines: int
    cpu: float
    rss_mb: float
    server_cpu: float | None = None  # the run's own PostgreSQL backends (read + replay only)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _replay_timed(histories: list[MemberHistory]) -> Span:
    began, cpu = time.perf_counter(), time.process_time()  # CLOCK_MONOTONIC: one clock for all
    lines = sum(len(o.claim.case.lines) for h in histories for o in replay(h, {}))
    return Span(began, time.perf_counter(), lines, time.process_time() - cpu, _peak_rss_mb())


def _worker(members: range, start: Any, results: Any) -> None:
    histories = [_history(m) for m in members]  # its own shard's facts, as a real process reads them
    start.wait()
    results.put(_replay_timed(histories))


def _parallel(members: int, processes: int) -> list[Span]:
    """A shard of members a process (members are independent), no facts sent from the parent:
    each builds its own, as each of ``simulation.run``'s processes reads its own shard."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(target=_worker, args=(range(i, members, processes), start, results))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    spans = [_result(results, workers) for _ in workers]
    for worker in workers:
        worker.join()
    return spans


def _result(results: Any, workers: list[Any]) -> Any:
    """The next result; a process that died says so instead of leaving the parent waiting."""
    while True:
        try:
            return results.get(timeout=1)
        except queue.Empty:
            failed = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if failed:
                raise RuntimeError(f"a benchmark process failed (exit codes {failed})") from None


def _summary(spans: list[Span]) -> tuple[float, float, float, float]:
    """Lines a second (first start to last finish), CPU-seconds a million lines, lines a
    CPU-second, the largest peak RSS."""
    lines = sum(s.lines for s in spans)
    wall = max(s.ended for s in spans) - min(s.began for s in spans)
    cpu = sum(s.cpu for s in spans)
    return lines / wall, cpu / lines * 1e6, lines / cpu, max(s.rss_mb for s in spans)


def _median_by(runs: int, measure: Callable[[], list[Span]]) -> list[Span]:
    """The run of median wall-clock speed."""
    results = sorted((measure() for _ in range(runs)), key=lambda spans: _summary(spans)[0])
    return results[len(results) // 2]


def _read_replay(url: str, processes: int, out: Any) -> None:
    """One simulation computed from the database in a process of its own (its RSS is its own)."""
    gateway = bootstrap(Settings(database_url=url))
    try:
        period = Period("2000-01", "2099-12")
        began, cpu = time.perf_counter(), time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        result = compute(gateway.sessions, url, Inputs(period), processes=processes)
        used = time.process_time() - cpu
        used += resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - children
        rss = max(_peak_rss_mb(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        out.put(Span(began, time.perf_counter(), result["lines"], used, rss))
    finally:
        gateway.close()


def _from_database(url: str, processes: int) -> Span:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    name = f"ltc_bench_sim_{os.getpid()}_{processes}"
    with server_cpu.ServerCpu(url, name) as server:
        process = context.Process(target=_read_replay, args=(server_cpu.named(url, name), processes, out))
        process.start()
        span: Span = _result(out, [process])
        process.join()
    return replace(span, server_cpu=server.seconds)


def _city(url: str, members: int) -> None:
    gateway = bootstrap(Settings(database_url=url))
    try:
        upgrade_engine(gateway.engine)
        city.generate(gateway, members)
    finally:
        gateway.close()


def _grow(url: str, copies: int) -> None:
    gateway = bootstrap(Settings(database_url=url))
    try:
        if gateway.engine.dialect.name == "postgresql":
            city_copies.multiply_in_sql(gateway.engine, copies)  # in the server, and analysed
        else:
            city_copies.multiply(gateway.engine, copies)
    finally:
        gateway.close()


def _measured(name: str, url: str, city: str, n: int, processes: int, baseline: float, pure: float) -> Row:
    """One read + replay of the whole city on ``n`` processes, as a row."""
    load = os.getloadavg()[0]
    span = _from_database(url, n)
    speed, cpu_per_m, per_cpu, rss = _summary([span])
    server = span.server_cpu / span.lines * 1e6 if span.server_cpu is not None else None
    spent = cpu_per_m + (server or 0)  # the client's and the server's CPU, on the same cores
    year = spent * YEAR_LINES / 1e6 / processes  # CPU-s of the year spread on the cores
    return Row(
        f"simulation read + replay ({name}, {n} process{'es' if n > 1 else ''})",
        speed,
        "lines/s",
        baseline,
        "coordination core",
        note=f"{city}, {span.lines:,} lines in {span.ended - span.began:,.1f} s; {cpu_per_m:,.1f} CPU-s a "
        f"million lines in the client ({per_cpu:,.0f} lines a CPU-second, all processes, starts included)"
        + (f" + {server:,.1f} in the run's PostgreSQL backends" if server is not None else "")
        + f" (pure replay, same run: {pure:,.1f}); peak RSS {rss:,.0f} MB a process; load average "
        f"{load:.1f} at the start; a year of {YEAR_LINES / 1e6:.0f} million lines at this CPU cost on "
        f"{processes} quiet cores: {year:,.0f} s (projected, target <= {YEAR_TARGET_S} s)",
        target=f">= {TARGET:,} lines/s" if n > 1 else "",
        met=speed >= TARGET if n > 1 else None,
    )


def _database_rows(
    name: str,
    url: str,
    city_members: int,
    sizes: tuple[int, ...],
    processes: int,
    baseline: float,
    pure: float,
) -> list[Row]:
    rows, made = [], 1
    for copies in sizes:
        _grow(url, copies // made)
        made = copies
        city = f"city of {city_members * copies:,} members ({city_members} generated x {copies})"
        for n in sorted({1, processes}):
            rows.append(_measured(name, url, city, n, processes, baseline, pure))
    return rows


def kept_city_rows(schema: str, processes: int = 2, runs: int = 3) -> list[Row]:
    """A city kept in ``schema`` (seeded beforehand), read and replayed whole on 1 and on
    ``processes`` processes."""
    return _whole_city_rows(in_schema(schema), f"city kept in {schema}", processes, runs)


def seeded_city_rows(
    copies: int, processes: int = 2, runs: int = 3, prefix: str = "bench_sim_city"
) -> list[Row]:
    """A city of 40 generated members copied ``copies`` times in the server (1,250: 50,000
    members, ~2.8 million lines, ~4 GB, ~15 minutes to copy on the shared machine), measured
    whole on 1 and on ``processes`` processes, then dropped."""
    with fresh_schema(prefix) as url:
        _city(url, 40)
        _grow(url, copies)
        city = f"city of {40 * copies:,} members (40 generated x {copies})"
        return _whole_city_rows(url, city, processes, runs)


def _whole_city_rows(url: str, city: str, processes: int, runs: int) -> list[Row]:
    load_start = os.getloadavg()[0]
    core = coordination.run(runs=runs)[0]
    pure = _summary(_median_by(runs, lambda: [_replay_timed([_history(m) for m in range(400)])]))[1]
    rows = [core] + [
        _measured("PostgreSQL", url, city, n, processes, core.figure, pure) for n in sorted({1, processes})
    ]
    rows.append(_load_row(load_start))
    return rows


def in_schema(schema: str) -> str:
    return (
        make_url(normalise_url(database_url()))
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


def _load_row(load_start: float) -> Row:
    return Row(
        "machine load during the simulation benchmark",
        load_start,
        "(1-min load average at the start)",
        note=f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores: wall-clock figures above are "
        "shared with that load; CPU-seconds are the processes' own",
    )


def run(
    members: int = 400,
    runs: int = 3,
    processes: int = 2,
    city_members: int = 40,
    sizes: tuple[int, ...] = (4, 12, 48),
    databases: tuple[str, ...] = ("SQLite", "PostgreSQL"),
    prefix: str = "bench_sim",
) -> list[Row]:
    load_start = os.getloadavg()[0]
    core = coordination.run(runs=runs)[0]
    baseline = core.figure
    built = [_history(m) for m in range(members)]
    one = _summary(_median_by(runs, lambda: [_replay_timed(built)]))
    many = _summary(_median_by(runs, lambda: _parallel(members, processes)))
    lines = members * CLAIMS_A_MEMBER * 10
    rows = [
        core,
        Row(
            "simulation replay, 1 process",
            one[0],
            "lines/s",
            baseline,
            "coordination core",
            note=f"{members} members x {CLAIMS_A_MEMBER} claims x 10 lines, 3 indemnity + 1 fixed, median of "
            f"{runs}; {one[1]:,.1f} CPU-s a million lines ({one[2]:,.0f} lines a CPU-second); "
            f"peak RSS {one[3]:,.0f} MB",
        ),
        Row(
            f"simulation replay, {processes} processes",
            many[0],
            "lines/s",
            baseline,
            "coordination core",
            target=f">= {TARGET:,} lines/s",
            met=many[0] >= TARGET,
            note=f"{lines:,} lines, a shard of members a process, each building its own facts, "
            f"first start to last finish; {many[1]:,.1f} CPU-s a million lines; projection for "
            f"{processes} quiet cores {many[2] * processes:,.0f} lines/s (lines a CPU-second x {processes}); "
            f"peak RSS {many[3]:,.0f} MB a process",
        ),
    ]
    folder = Path(tempfile.mkdtemp(prefix="ltc-bench-city-"))
    try:
        if "SQLite" in databases:
            url = f"sqlite:///{folder / 'city.db'}"
            _city(url, city_members)
            rows += _database_rows("SQLite", url, city_members, sizes[:2], processes, baseline, one[1])
        if "PostgreSQL" in databases:
            with fresh_schema(prefix) as url:
                _city(url, city_members)
                rows += _database_rows("PostgreSQL", url, city_members, sizes, processes, baseline, one[1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows.append(_load_row(load_start))
    return rows
