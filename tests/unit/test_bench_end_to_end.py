"""The end-to-end benchmark's arithmetic: the steady span and the workers' CPU a claim."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.end_to_end import _cpu_seconds, _steady


def test_the_steady_state_runs_from_the_tenth_to_the_ninetieth_percent_done() -> None:
    # (seconds, claims done, worker CPU seconds, PostgreSQL backends' CPU seconds): a slow start,
    # then 10 claims/s at 0.1 s of worker CPU and 0.02 s of PostgreSQL CPU each
    progress = [
        (0.0, 0, 0.0, 0.0),
        (2.0, 0, 1.5, 0.1),
        (3.0, 10, 2.5, 0.3),
        (11.0, 90, 10.5, 1.9),
        (13.0, 100, 11.0, 2.0),
    ]
    claims_per_second, cpu_per_claim, database_per_claim = _steady(progress, 100)
    assert claims_per_second == 10.0
    assert abs(cpu_per_claim - 0.1) < 1e-9
    assert abs(database_per_claim - 0.02) < 1e-9


def test_worker_cpu_is_read_from_the_running_processes() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        assert 0.05 < _cpu_seconds([busy]) <= 1.5  # a busy second, less what others took of the CPU
    finally:
        busy.kill()
        busy.wait()
    assert _cpu_seconds([busy]) == 0.0  # gone: nothing to read


def test_the_200_ms_figure_is_held_to_the_lower_of_littles_law_and_the_cpu_bound() -> None:
    from bench.end_to_end import Measured, bounds, slow_claims

    # 2 workers x 64 in flight at 200 ms, 4 steps: Little's law 160 claims/s; 80 ms CPU a claim
    # on 2 cores: 25 claims/s, the lower, so the CPU bound applies
    measured = Measured(steady=21.0, overall=18.0, bound=160.0, worker_cpu=0.06, postgres_cpu=0.02, load=1.0)
    little, cpu, applies, bound = bounds(measured, cores=2)
    assert (little, round(cpu, 6), applies, round(bound, 6)) == (160.0, 25.0, "CPU", 25.0)
    waiting = Measured(steady=9.0, overall=8.0, bound=10.0, worker_cpu=0.06, postgres_cpu=0.02, load=1.0)
    assert bounds(waiting, cores=2)[2:] == ("Little's law", 10.0)
    # the sandbox payers' CPU on the same cores lowers the bound: 2 / (0.08 + 0.02) = 20 claims/s
    paying = Measured(
        steady=18.0, overall=17.0, bound=160.0, worker_cpu=0.06, postgres_cpu=0.02, load=1.0, payers_cpu=0.02
    )
    assert round(bounds(paying, cores=2)[1], 6) == 20.0
    assert round(bounds(paying, cores=2, with_payers=False)[1], 6) == 25.0
    assert slow_claims(2, 64) == 512 and slow_claims(2, 16) == 200
