"""Pooled PostgreSQL connections closed by the server: tested before use once they sat idle
(``gateway/storage/database.py``), so a restart or an idle timeout costs no failed transaction."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, exc, text

from gateway.storage.database import make_engine
from tests.conftest import DatabaseUnderTest


def _engine(database: DatabaseUnderTest, idle_seconds: float) -> Iterator[Engine]:
    if database.backend != "postgres":
        pytest.skip("SQLite has no server to close connections")
    engine = make_engine(database.url, idle_seconds=idle_seconds, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture
def idle_tested(database: DatabaseUnderTest) -> Iterator[Engine]:
    yield from _engine(database, idle_seconds=0.2)


@pytest.fixture
def busy(database: DatabaseUnderTest) -> Iterator[Engine]:
    yield from _engine(database, idle_seconds=3600)


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")))


def _close_on_the_server(database: DatabaseUnderTest, pid: int) -> None:
    with database.engine.begin() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    time.sleep(0.2)


def test_a_connection_closed_while_idle_is_replaced_before_use(
    database: DatabaseUnderTest, idle_tested: Engine
) -> None:
    first = _backend(idle_tested)
    _close_on_the_server(database, first)
    time.sleep(0.2)  # idle for longer than idle_seconds
    second = _backend(idle_tested)  # no error: the checkout found it closed and reconnected
    assert second != first


def test_a_connection_in_steady_use_is_not_tested_and_a_break_fails_once(
    database: DatabaseUnderTest, busy: Engine
) -> None:
    """The price of testing only idle connections: one transaction fails; the pool then
    replaces the connection, as ``pool_pre_ping`` would have before it."""
    first = _backend(busy)
    _close_on_the_server(database, first)
    with pytest.raises(exc.OperationalError):
        _backend(busy)
    assert _backend(busy) != first
