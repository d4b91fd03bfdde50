"""Engines and sessions. SQLite is the embedded default; PostgreSQL is production."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Plain ``postgresql://`` URLs use psycopg 3, the driver we ship."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


_IDLE_SINCE = "ltc_idle_since"


def make_engine(url: str, idle_seconds: float = 5.0, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, idle_seconds)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Test a pooled connection before use only when it sat idle for ``idle_seconds`` (a server
    restart or an idle timeout has most likely closed it then). ``pool_pre_ping`` tests every
    checkout: one more round trip a transaction, 11 a claim in a worker. A connection
    that breaks while in use fails its transaction, and the pool then replaces every connection
    older than the failure, as it does with ``pool_pre_ping``."""

    @event.listens_for(engine.pool, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is not None and time.monotonic() - since >= idle_seconds:
            try:
                alive = engine.dialect.do_ping(dbapi_connection)
            except engine.dialect.loaded_dbapi.Error:  # e.g. AdminShutdown, not seen as a disconnect
                alive = False
            if not alive:
                raise exc.DisconnectionError("the pooled connection was closed")  # the pool reconnects


def _sqlite_pragmas(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and so cannot serialise read-then-write
    # transactions; take over and start each one with BEGIN IMMEDIATE (one writer at a time).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# A fault of the database or of the way to it (a dropped or killed connection, a restart, SQLite's
# write lock held past the busy timeout, no connection free in the pool), not of the statement:
# worth waiting for and trying again. The pool replaces connections a disconnect broke.
UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)


def is_unavailable(error: BaseException) -> bool:
    return isinstance(error, UNAVAILABLE) or (
        isinstance(error, exc.DBAPIError) and bool(error.connection_invalidated)
    )
