"""The fault simulation's CI subset: a few seeds, a few claims each, on the suite's database."""

from __future__ import annotations

from collections import Counter

import pytest

from gateway.bootstrap import Gateway
from tests.simulation.harness import run


@pytest.mark.parametrize("seed", [1])
def test_a_seeded_fault_simulation_holds_every_check(gateway: Gateway, seed: int) -> None:
    gateway.close()
    report = run(seed, claims=12, database_url=gateway.settings.database_url, kills=1)
    print(report.text())
    assert not report.violations, report.text()
    voided = len(report.voided)
    assert report.outcome == Counter(coordinated=12 - voided, voided=voided)
