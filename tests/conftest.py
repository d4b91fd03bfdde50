"""Test databases: every test that uses ``gateway`` runs on SQLite and on PostgreSQL.

PostgreSQL comes from testcontainers when a Docker engine answers, otherwise from
``LTC_TEST_DATABASE_URL`` (each run works in a schema of its own and drops it afterwards).
With ``LTC_REQUIRE_POSTGRES=1`` (CI), a run in which no PostgreSQL test passed fails.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from gateway.bootstrap import Gateway, bootstrap
from gateway.config import Settings
from gateway.storage.database import make_engine, normalise_url
from gateway.storage.migrate import upgrade_engine
from gateway.storage.tables import Base, figures

REQUIRE_POSTGRES = os.environ.get("LTC_REQUIRE_POSTGRES") == "1"
# the figures migration 0035's triggers keep as the rows they sum change
KEPT_FIGURES = {
    t.__tablename__
    for t in vars(figures).values()
    if isinstance(t, type) and t.__module__ == figures.__name__
}
KEPT_FIGURES.add("queue_totals")
_POSTGRES_ID = re.compile(r"\[(?:[^\]]*-)?postgres(?:-[^\]]*)?\]$")
_postgres_passed = 0


@dataclass
class DatabaseUnderTest:
    backend: str
    url: str  # for subprocesses (CLI, servers)
    engine: Engine
    template: Path | None = None  # SQLite: a migrated file copied for each test

    def fresh(self, tmp_path: Path) -> tuple[str, Engine]:
        if self.backend == "sqlite":
            assert self.template is not None
            target = tmp_path / "gateway.db"
            shutil.copyfile(self.template, target)
            url = f"sqlite:///{target}"
            return url, make_engine(url)
        # DELETE and a restart of every sequence, not TRUNCATE: a test leaves a few rows, and
        # TRUNCATE's fixed cost per table (new files for each) was ~0.5 s a test, ~4 minutes of
        # the suite; DELETE of the same rows takes ~20 ms.
        with self.engine.begin() as connection:
            sequences = connection.execute(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
            ).scalars()
            # the bureau's kept figures last: deleting the rows they sum fires the triggers that
            # keep them (migration 0035), which would leave them negative if emptied first
            tables = sorted(reversed(Base.metadata.sorted_tables), key=lambda t: t.name in KEPT_FIGURES)
            statements = [f'DELETE FROM "{t.name}"' for t in tables]
            statements += [f'ALTER SEQUENCE "{name}" RESTART' for name in sequences]
            connection.execute(text("; ".join(statements)))
        return self.url, self.engine


def _docker_postgres() -> Any:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return None
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer("postgres:16-alpine", driver="psycopg")
    container.start()
    return container


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A command run in-process (``main([...])``) sets up logging as a process would: a root
    handler on the stderr of that moment, which pytest closes after the test. A server thread of
    a later test then logged into a closed file ("--- Logging error ---" in CI's output)."""
    root, ours = logging.getLogger(), logging.getLogger("ltc_gateway")
    levels = (root.level, ours.level)
    yield
    for handler in [h for h in root.handlers if type(h) is logging.StreamHandler]:  # not pytest's own
        root.removeHandler(handler)
    root.setLevel(levels[0])
    ours.setLevel(levels[1])


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseUnderTest]:
    if request.param == "sqlite":
        template = tmp_path_factory.mktemp("sqlite") / "template.db"
        engine = make_engine(f"sqlite:///{template}")
        upgrade_engine(engine)
        engine.dispose()
        yield DatabaseUnderTest(
            "sqlite", f"sqlite:///{template}", make_engine(f"sqlite:///{template}"), template
        )
        return
    container = None
    base_url = os.environ.get("LTC_TEST_DATABASE_URL")
    if not base_url:
        container = _docker_postgres()
        if container is None:
            pytest.skip("no PostgreSQL: no Docker engine and LTC_TEST_DATABASE_URL is not set")
        base_url = container.get_connection_url()
    admin = make_engine(base_url)
    schema = f"ltc_test_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _with_search_path(base_url, schema)
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
        yield DatabaseUnderTest("postgres", url, engine)
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        if container is not None:
            container.stop()


def _with_search_path(url: str, schema: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(normalise_url(url))
    # Tests commit thousands of times; a commit need not wait for the WAL's fsync here (~4 ms a
    # commit on this disk, ~1.5 ms without). Nothing in the suite crashes the server itself: its
    # faults are killed clients and backends ended with pg_terminate_backend, which lose nothing.
    options = f"-csearch_path={schema} -csynchronous_commit=off"
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


@pytest.fixture
def gateway(database: DatabaseUnderTest, tmp_path: Path) -> Iterator[Gateway]:
    url, engine = database.fresh(tmp_path)
    gw = bootstrap(Settings(database_url=url), engine=engine)
    yield gw
    gw.sealer.close()
    if database.backend == "sqlite":
        engine.dispose()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _postgres_passed
    if report.when == "call" and report.passed and _POSTGRES_ID.search(report.nodeid):
        _postgres_passed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REQUIRE_POSTGRES and _postgres_passed == 0 and session.testscollected:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REQUIRE_POSTGRES:
        line = f"PostgreSQL tests passed: {_postgres_passed}"
        if _postgres_passed == 0:
            terminalreporter.write_line(line + " — LTC_REQUIRE_POSTGRES=1, so this run FAILS", red=True)
        else:
            terminalreporter.write_line(line, green=True)
