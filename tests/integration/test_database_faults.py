"""Workers and the API survive database faults (issue 18, item 6), and a worker obeys SIGTERM
within a few seconds whatever it is doing (item 4). Workers run as separate processes, the way
operators run them; the bounds below are how long a test waits, not performance assertions."""

from __future__ import annotations

import asyncio
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url

from gateway.orchestration.worker import Worker
from gateway.storage.database import make_engine, make_sessionmaker, normalise_url
from gateway.storage.tables import ClaimRow
from ltc_sandbox.payer_set import SandboxPayers
from tests.integration.test_crash_and_plugins import worker_env
from tests.integration.test_payers import one_body_per_key
from tests.integration.world import World

WAIT = 60.0  # seconds a test waits for something before it calls it a failure


def until(condition: Callable[[], bool], what: str, alive: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert alive is None or alive.poll() is None, f"the worker exited (rc {alive.returncode})"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def statuses(world: World) -> list[str]:
    with world.gateway.sessions.begin() as session:
        return list(session.scalars(select(ClaimRow.status)))


def start_worker(env: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / f"worker-{secrets.token_hex(3)}.log"
    with log.open("wb") as stderr:
        worker = subprocess.Popen(
            [sys.executable, "-m", "ltc_gateway", "worker"], env=env, cwd=tmp_path, stderr=stderr
        )
    until(lambda: b"worker started" in log.read_bytes(), "the worker to start", worker)
    return worker, log


def stop_worker(worker: subprocess.Popen[bytes]) -> int:
    worker.send_signal(signal.SIGTERM)
    try:
        return worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        raise AssertionError("the worker did not obey SIGTERM") from None


@pytest.mark.parametrize("state", ["idle", "busy"])
def test_a_worker_obeys_sigterm_within_a_few_seconds_idle_or_busy(
    world: World, sandboxes: SandboxPayers, tmp_path: Path, state: str
) -> None:
    """Busy: its tier-2 payer never answers in time, and the worker would retry it in place for
    a minute; it leaves the call to the next lease instead (the request is stored, the attempt
    counted)."""
    world.setup()
    hmb = sandboxes.payers["huiminbao"]
    env = worker_env(world) | {"LTC_PAYER_RETRY_ATTEMPTS": "12", "LTC_PAYER_RETRY_INITIAL_SECONDS": "1"}
    if state == "busy":
        hmb.faults.timeout_first, hmb.faults.timeout_seconds = 100, 6.0  # the client waits 5 s
        world.submit()
    worker, log = start_worker(env, tmp_path)
    try:
        if state == "busy":
            until(lambda: bool(hmb.submissions), "the tier-2 call", worker)
    finally:
        rc = stop_worker(worker)
    assert rc == 0, log.read_text()
    assert b"worker stopped" in log.read_bytes()
    hmb.faults.timeout_first = 0


def test_a_worker_whose_postgresql_connections_are_killed_goes_on_and_every_claim_completes(
    world: World, sandboxes: SandboxPayers, tmp_path: Path
) -> None:
    if world.gateway.engine.dialect.name != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    name = f"ltc-test-worker-{secrets.token_hex(4)}"  # only this test's worker is killed
    url = make_url(normalise_url(world.gateway.settings.database_url)).update_query_dict(
        {"application_name": name}
    )
    env = worker_env(world) | {"LTC_DATABASE_URL": url.render_as_string(hide_password=False)}
    world.setup()
    for payer in sandboxes.payers.values():
        payer.faults.latency_ms = 150  # the fan-out is under way when its connections die
    claims = [world.submit(world.claim_body(claim_number=f"K-{n}")).json()["claim_id"] for n in range(6)]
    killer = create_engine(normalise_url(world.gateway.settings.database_url))
    kills = killed = 0
    worker, log = start_worker(env, tmp_path)
    try:
        while kills < 4 or set(statuses(world)) != {"coordinated"}:
            assert worker.poll() is None, f"the worker exited:\n{log.read_text()}"
            if kills < 4:
                with killer.begin() as connection:
                    killed += connection.execute(
                        text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": name},
                    ).scalar_one()
                kills += 1
                time.sleep(0.4)
            else:
                until(lambda: set(statuses(world)) == {"coordinated"}, "every claim", worker)
    finally:
        rc = stop_worker(worker)
        killer.dispose()
    assert killed >= 1, "no connection of the worker was killed: the test proved nothing"
    assert b"database fault" in log.read_bytes()
    assert rc == 0
    assert all(world.claim(c)["status"] == "coordinated" for c in claims)
    one_body_per_key(sandboxes)  # resumed from the stored requests: one body per idempotency key


def test_a_worker_survives_sqlite_database_is_locked_while_leasing(world: World) -> None:
    if world.gateway.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    engine = make_engine(world.gateway.settings.database_url)

    @event.listens_for(engine, "connect")
    def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=50")  # "database is locked" in 50 ms, not 30 s

    worker = Worker(make_sessionmaker(engine), world.gateway.catalogue, poll_seconds=0.05)
    faults: list[Exception] = []
    lease = worker.lease_claims

    def watched_lease(limit: int | None = None) -> list[uuid.UUID]:
        try:
            return lease(limit)
        except Exception as error:
            faults.append(error)
            raise

    worker.lease_claims = watched_lease  # type: ignore[method-assign]
    locker = sqlite3.connect(str(engine.url.database), isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        while len(faults) < 2:
            assert not running.done(), "the worker stopped"
            await asyncio.sleep(0.05)
        locker.execute("COMMIT")
        while await asyncio.to_thread(statuses, world) != ["coordinated"]:
            assert not running.done(), "the worker stopped"
            await asyncio.sleep(0.05)
        stop.set()
        await running

    try:
        asyncio.run(asyncio.wait_for(scenario(), WAIT))
    finally:
        locker.close()
        engine.dispose()
    assert "database is locked" in str(faults[0])
    assert world.claim(claim_id)["status"] == "coordinated"


def test_api_writes_answer_503_with_retry_after_when_the_database_is_unreachable(world: World) -> None:
    world.setup()
    sessions = world.gateway.sessions
    reachable = sessions.kw["bind"]
    unreachable = make_engine(
        "postgresql://postgres@127.0.0.1:1/test"
        if reachable.dialect.name == "postgresql"
        else f"sqlite:///{Path('/nonexistent') / uuid.uuid4().hex / 'x.db'}"
    )
    provider, agency = world.provider, world.agency  # their keys are made in the database
    sessions.configure(bind=unreachable)
    try:
        claim = world.post("/v1/claims", world.claim_body(), provider)
        assessment = world.post("/v1/assessments", world.scenario["assessment"], agency)
        metrics = world.client.get("/metrics")
    finally:
        sessions.configure(bind=reachable)
        unreachable.dispose()
    for response in (claim, assessment):
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert int(response.headers["retry-after"]) > 0
        assert response.json()["status"] == 503
    assert metrics.status_code == 200
    assert "ltc_database_up 0.0" in metrics.text
    assert world.submit().status_code == 202  # and once it is back, the same request goes through
