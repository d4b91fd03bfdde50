"""The policy simulation's replay: claim lines re-coordinated per second, beside the coordination
core's figure from the same run.

* pure replay, one process: members of 12 monthly claims of 10 lines (the coordination
  benchmark's claims), under the worked example's four products recomputed by the gateway's
  rules, limits carried across claims;
* the same on 2 processes over shards of members, the facts shipped to the workers (their
  pickling counted), as ``simulation.run`` does with facts read in bulk;
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


def _pure(members: int, runs: int, processes: int) -> tuple[float, float]:
    histories = [_history(m) for m in range(members)]
    lines = sum(len(c.case.lines) for h in histories for c in h.claims)

    def one() -> float:
        started = time.perf_counter()
        assert _replay_shard(histories) == lines
        return lines / (time.perf_counter() - started)

    shards = [histories[i :: processes * 4] for i in range(processes * 4)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_replay_shard, [shards[0][:1]] * processes)  # started and warm before timing

        def parallel() -> float:
            started = time.perf_counter()
            assert sum(pool.map(_replay_shard, shards)) == lines
            return lines / (time.perf_counter() - started)

        return median(runs, one), median(runs, parallel)


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
            note=f"{lines:,} lines in {processes * 4} member shards, facts pickled to the workers",
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
