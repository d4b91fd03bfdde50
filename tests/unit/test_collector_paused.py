"""The simulation pauses the cyclic garbage collector while it reads and replays shards
(``shard_rows.collector_paused``): it must come back on afterwards, also after an error, and
stay off for a caller that had turned it off."""

from __future__ import annotations

import gc

import pytest

from gateway.simulation.shard_rows import collector_paused


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_comes_back_after_an_error() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a shard failed")
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_caller_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
