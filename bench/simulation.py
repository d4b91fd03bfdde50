"""The policy simulation's replay: claim lines re-coordinated per second, beside the coordination
core's figure from the same run.

* pure replay, one process: members of 12 monthly claims of 10 lines (the coordination
  benchmark's claims), under the worked example's four products recomputed by the gateway's
  rules, limits carried across claims;
* the same on 2 processes, a shard of members each: each builds its shard's facts (as
  ``simulation.run``'s processes read their own shard in bulk), then all replay at once, timed
  from the first start to the last finish;
* read + replay from a database: a generated city (the production path) replayed with
  ``simulation.run.compute``, on SQLite, one process.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from bench import coordination
from bench.common import Row, median
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.simulation import city
from gateway.simulation.replay import ClaimFact, MemberHistory, RoundFact, StepFact, replay
from gateway.simulation.run import Inputs, compute
from gateway.storage.migrate import upgrade_engine

TARGET = 100_000
CLAIMS_A_MEMBER = 12


def _history(m: int) -> MemberHistory:
    coverages = coordination._products()
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


def _replay_shard(histories: list[MemberHistory]) -> int:
    return sum(len(o.claim.case.lines) for h in histories for o in replay(h, {}))


def _worker(members: range, start: Any, results: Any) -> None:
    """One process: its shard's facts built (as ``simulation.run`` reads its own shard in bulk),
    then replayed once every process is ready; the span it replayed in."""
    histories = [_history(m) for m in members]
    start.wait()
    began = time.perf_counter()  # CLOCK_MONOTONIC: one clock for every process
    lines = _replay_shard(histories)
    results.put((began, time.perf_counter(), lines))


def _parallel(members: int, processes: int) -> float:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(target=_worker, args=(range(i, members, processes), start, results))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    spans = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    lines = sum(n for _, _, n in spans)
    return lines / (max(end for _, end, _ in spans) - min(began for began, _, _ in spans))


def _pure(members: int, runs: int, processes: int) -> tuple[float, float]:
    histories = [_history(m) for m in range(members)]
    lines = sum(len(c.case.lines) for h in histories for c in h.claims)

    def one() -> float:
        started = time.perf_counter()
        assert _replay_shard(histories) == lines
        return lines / (time.perf_counter() - started)

    return median(runs, one), median(runs, lambda: _parallel(members, processes))


def _from_database(members: int) -> tuple[float, int]:
    folder = Path(tempfile.mkdtemp(prefix="ltc-bench-city-"))
    url = f"sqlite:///{folder / 'city.db'}"
    gateway = bootstrap(Settings(database_url=url))
    try:
        upgrade_engine(gateway.engine)
        period = city.generate(gateway, members)
        started = time.perf_counter()
        result = compute(gateway.sessions, url, Inputs(period))
        return result["lines"] / (time.perf_counter() - started), result["lines"]
    finally:
        gateway.close()


def run(members: int = 400, runs: int = 3, processes: int = 2, city_members: int = 40) -> list[Row]:
    baseline = coordination.run(runs=runs)[0].figure
    one, parallel = _pure(members, runs, processes)
    lines = members * CLAIMS_A_MEMBER * 10
    stored, stored_lines = _from_database(city_members)
    note = f"{members} members x {CLAIMS_A_MEMBER} claims x 10 lines, 3 indemnity + 1 fixed, median of {runs}"
    return [
        Row("simulation replay, 1 process", one, "lines/s", baseline, "coordination core", note=note),
        Row(
            f"simulation replay, {processes} processes",
            parallel,
            "lines/s",
            baseline,
            "coordination core",
            target=f">= {TARGET:,} lines/s",
            met=parallel >= TARGET,
            note=f"{lines:,} lines, a shard of members a process, each building its own facts first",
        ),
        Row(
            "simulation read + replay (SQLite)",
            stored,
            "lines/s",
            baseline,
            "coordination core",
            note=f"generated city of {city_members} members, {stored_lines:,} lines, 1 process",
        ),
    ]
