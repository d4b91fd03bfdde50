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
