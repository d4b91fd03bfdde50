"""The simulation's floor benchmark reads what the simulation reads: the same lines by the same
queries, and replays them to the same count (no durations asserted)."""

from __future__ import annotations

import pytest

from bench.simulation_floor import PERIOD, core_floor, read_floor
from gateway.bootstrap import Gateway
from gateway.simulation import city, history
from gateway.storage.migrate import upgrade_engine


def test_the_floor_reads_and_replays_every_line_the_simulation_counts(gateway: Gateway) -> None:
    if gateway.engine.dialect.name != "postgresql":
        pytest.skip("the floor reads by the PostgreSQL queries (claim ids as an array)")
    upgrade_engine(gateway.engine)
    city.generate(gateway, 12, seed=5, revised=0.3)
    url = gateway.engine.url.render_as_string(hide_password=False)
    with gateway.sessions() as session:
        counted = history.count_lines(session, PERIOD)
    lines, client, server = read_floor(url)
    replayed, replaying = core_floor(url)
    assert counted > 0
    assert lines == replayed == counted
    assert client > 0 and replaying > 0
    assert server is None or server >= 0
