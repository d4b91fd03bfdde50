"""Where a simulation's CPU goes, phase by phase: one ``simulation.run.compute`` in one process on a
generated city on PostgreSQL, each phase's functions timed with the process's CPU clock
(``time.process_time``), beside the run's own PostgreSQL backends (``server_cpu``). The figures
are CPU-seconds a million lines:

* read: a shard's rows fetched and built (``shard_rows.read``);
* facts: a member's history made from them (``history._history``: duplicate index, visits, steps);
* replay: the claims re-coordinated (``replay.replay``);
* tally: the claim folded and added to the report and the coverage gap (``fold``,
  ``Tally.add``, ``GapTally.add``);
* other: the rest of the run (setup, the shard loop, merging).

The wrappers add a call each to what they time (well under 1 % here). Run by
``python -m bench --only simulation-phases``; a city of 40 generated members copied ``copies``
times (50: 2,000 members, ~112,000 lines).
"""

from __future__ import annotations

import functools
import os
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from bench import server_cpu, simulation, simulation_floor
from bench.common import Row, fresh_schema
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.simulation import gap, history, report, run, shard_rows
from gateway.simulation.history import Period
from gateway.simulation.run import Inputs, compute

PHASES = ("read", "facts", "replay", "tally")


def _timed(spent: defaultdict[str, float], phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[phase] += time.process_time() - began

    return timed


def _patched(spent: defaultdict[str, float]) -> list[tuple[Any, str, Any]]:
    """(owner, name, original) of every function wrapped, to put back."""
    targets: list[tuple[Any, str, str]] = [
        (shard_rows, "read", "read"),
        (history, "_history", "facts"),
        (run, "replay", "replay"),
        (report.Tally, "add", "tally"),
        (gap.GapTally, "add", "tally"),
    ]
    if hasattr(run, "fold"):
        targets.append((run, "fold", "tally"))
    originals = []
    for owner, name, phase in targets:
        original = getattr(owner, name)
        originals.append((owner, name, original))
        setattr(owner, name, _timed(spent, phase, original))
    return originals


def measure(url: str) -> tuple[int, float, float | None, dict[str, float]]:
    """Lines, the client's CPU-seconds, the server's (None if unreadable) and each phase's."""
    spent: defaultdict[str, float] = defaultdict(float)
    named = server_cpu.named(url, f"ltc_bench_phases_{os.getpid()}")
    gateway = bootstrap(Settings(database_url=named))
    originals = _patched(spent)
    try:
        with server_cpu.ServerCpu(named, f"ltc_bench_phases_{os.getpid()}") as server:
            began = time.process_time()
            result = compute(gateway.sessions, named, Inputs(Period("2000-01", "2099-12")), processes=1)
            used = time.process_time() - began
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
        gateway.close()
    seconds = server.seconds if server.readable else None
    return result["lines"], used, seconds, dict(spent)


def run_phases(copies: int = 50, prefix: str = "bench_sim_phases") -> list[Row]:
    load = os.getloadavg()[0]
    with fresh_schema(prefix) as url:
        simulation._city(url, 40)
        simulation._grow(url, copies)
        lines, used, server, spent = measure(url)
        floor = simulation_floor.floor_row(url, (used + (server or 0.0)) * 1e6 / lines)
    per_m = 1e6 / lines
    parts = [f"{phase} {spent.get(phase, 0.0) * per_m:,.1f}" for phase in PHASES]
    parts.append(f"other {(used - sum(spent.values())) * per_m:,.1f}")
    return [
        Row(
            "simulation CPU by phase (PostgreSQL, 1 process)",
            used * per_m,
            "client CPU-s a million lines",
            note=f"city of {40 * copies:,} members (40 generated x {copies}), {lines:,} lines; "
            + "; ".join(parts)
            + (f"; + {server * per_m:,.1f} in the run's PostgreSQL backends" if server is not None else "")
            + f"; load average {load:.1f} at the start",
        ),
        floor,
    ]
