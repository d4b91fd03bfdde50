"""Simulations asked for over HTTP or from the staff page: checked, bounded and stored at once
(the caller gets the id), then run in the background, where a reader polls their progress.

Bounds: one period of at most twelve months; at most ``LTC_SIMULATION_MAX_MEMBERS`` members and
``LTC_SIMULATION_MAX_LINES`` claim lines in it; at most ``LTC_SIMULATION_MAX_RUNNING`` running at
once (a run whose process ended stops beating and no longer counts after ``STALE``). A generated
city (``generated``: members and seed) is built in a temporary database of its own, never in the
live one, and replayed there: for a bureau trying drafts before it has history.

A payer sees a simulation's coverage gap only (``view(..., full=False)``): the anonymised cells of
``gap``, never the per-member figures, gainers and losers, or the fund's figures.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from examples import example_products
from gateway.bootstrap import Gateway, bootstrap
from gateway.config import Settings
from gateway.domain.numbers import INT32, whole_number
from gateway.errors import Conflict, Invalid, NotFound
from gateway.simulation import city, history, run
from gateway.simulation.drafts import draft_products
from gateway.storage.migrate import upgrade_engine
from gateway.storage.tables import SimulationRow, utcnow

log = logging.getLogger("ltc_gateway.simulation")
STALE = timedelta(minutes=30)  # a run beats at least every block of members; far less than this
ACTIVE = ("queued", "running")
_running: dict[int, dict[int, tuple[threading.Thread, threading.Event]]] = {}  # gateway → id → run
_lock = threading.Lock()


class Stopped(Exception):
    detail = "stopped: the server stopped while it ran; ask again (the same inputs give the same figures)"


@dataclass(frozen=True, slots=True)
class Limits:
    running: int = 2
    members: int = 500_000
    lines: int = 20_000_000
    generated: int = 200
    k: int = run.DEFAULT_K

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            settings.simulation_max_running,
            settings.simulation_max_members,
            settings.simulation_max_lines,
            settings.simulation_max_generated_members,
            settings.simulation_min_cell_members,
        )


def _generated(document: Any, limits: Limits) -> dict[str, int]:
    if not isinstance(document, Mapping):
        raise Invalid([("/generated", "must be an object with members (and seed)")])
    members, seed = document.get("members"), document.get("seed", 1)
    faults = []
    if isinstance(members, bool) or not isinstance(members, int) or not 1 <= members <= limits.generated:
        faults.append(("/generated/members", f"must be a whole number from 1 to {limits.generated}"))
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= INT32:
        faults.append(("/generated/seed", f"must be a whole number from 0 to {INT32}"))
    if faults:
        raise Invalid(faults)
    return {"members": members, "seed": seed}


def request(session: Session, document: Any, actor: str, limits: Limits, today: date) -> int:
    """Checked, bounded, stored as queued and audited (who asked, the inputs' digest); its id.
    Faults name the field; too many running is a conflict. ``launch`` starts it."""
    if not isinstance(document, Mapping):
        raise Invalid([("", "must be an object with period, drafts and funding")])
    generated = None
    if document.get("generated") is not None:
        generated = _generated(document["generated"], limits)
        year = city.year_before(today)
        document = {"period": {"from": year.first, "to": year.last}, **document}
        given = run.inputs(document)
        draft_products(given.drafts, {p["product_code"]: p for p in example_products()})
    else:
        given = run.inputs(document)
        draft_products(given.drafts, history.current_definitions(session))
        members = len(history.members(session, given.period))
        if members > limits.members:
            raise Invalid([("/period", f"holds {members} members; one simulation takes {limits.members}")])
        lines = history.count_lines(session, given.period)
        if lines > limits.lines:
            raise Invalid([("/period", f"holds {lines} claim lines; one simulation takes {limits.lines}")])
    running = session.scalar(
        select(func.count())
        .select_from(SimulationRow)
        .where(SimulationRow.status.in_(ACTIVE), SimulationRow.updated_at > utcnow() - STALE)
    )
    if (running or 0) >= limits.running:
        raise Conflict(f"{running} simulations are running (at most {limits.running}); try again later")
    inputs = given.to_json() | ({"generated": generated} if generated else {})
    return run.record(session, inputs, actor, status="queued")


def execute(
    sessions: sessionmaker[Session],
    settings: Settings,
    simulation_id: int,
    stop: threading.Event | None = None,
) -> None:
    """Run a queued simulation to its report (or to failed, with the reason kept and audited).
    ``stop``: checked at every step of progress (a month generated, a block of members)."""
    with sessions.begin() as session:
        row = session.get_one(SimulationRow, simulation_id)
        stored, actor = dict(row.inputs), row.created_by
    k = settings.simulation_min_cell_members

    def beat(phase: str) -> run.Progress:
        def tick(done: int, total: int) -> None:
            if stop is not None and stop.is_set():
                raise Stopped()
            run.advance(sessions, simulation_id, phase, done, total)

        return tick

    try:
        given = run.inputs(stored)
        if "generated" in stored:
            result = _on_generated_city(sessions, settings, given, stored["generated"], k, beat)
        else:
            beat("replaying")(0, 0)
            result = run.compute(sessions, settings.database_url, given, k=k, progress=beat("replaying"))
    except Exception as error:
        if isinstance(error, Stopped):
            log.info("simulation stopped", extra={"simulation_id": simulation_id})
        else:
            log.exception("simulation failed", extra={"simulation_id": simulation_id})
        run.fail(sessions, simulation_id, actor, error)
        return
    run.finish(sessions, simulation_id, actor, result)


def _on_generated_city(
    sessions: sessionmaker[Session],
    settings: Settings,
    given: run.Inputs,
    generated: Mapping[str, int],
    k: int,
    beat: Callable[[str], run.Progress],
) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="ltc-city-"))
    url = f"sqlite:///{folder / 'city.db'}"
    made: Gateway = bootstrap(replace(settings, database_url=url))
    try:
        upgrade_engine(made.engine)
        members = generated["members"]
        generating = beat("generating")
        generating(0, members)
        city.generate(
            made,
            members,
            seed=generated["seed"],
            progress=lambda month, months: generating(members * month // months, members),
        )
        return run.compute(made.sessions, url, given, k=k, progress=beat("replaying"))
    finally:
        made.close()
        made.engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def launch(gateway: Gateway, simulation_id: int) -> threading.Thread:
    """Start the run in a thread of this process (after the request that stored it committed);
    ``stop_all`` stops it when the application stops."""
    stop = threading.Event()

    def work() -> None:
        try:
            execute(gateway.sessions, gateway.settings, simulation_id, stop)
        finally:
            with _lock:
                _running.get(id(gateway), {}).pop(simulation_id, None)

    worker = threading.Thread(target=work, daemon=True, name=f"simulation-{simulation_id}")
    with _lock:
        _running.setdefault(id(gateway), {})[simulation_id] = (worker, stop)
    worker.start()
    return worker


def stop_all(gateway: Gateway, wait_seconds: float = 10.0) -> None:
    """Stop this gateway's runs at their next step: each is stored as failed, with the reason."""
    with _lock:
        runs = list(_running.pop(id(gateway), {}).values())
    for _, stop in runs:
        stop.set()
    for worker, _ in runs:
        worker.join(wait_seconds / max(len(runs), 1))


def find(session: Session, reference: str) -> SimulationRow:
    number = whole_number(reference, largest=INT32)
    row = session.get(SimulationRow, number) if number is not None else None
    if row is None:
        raise NotFound(f"no simulation {reference}", [("/id", "is not a simulation's id")])
    return row


def view(row: SimulationRow, *, full: bool) -> dict[str, Any]:
    """What a reader sees: progress while it runs, then the report. ``full=False`` (a payer): the
    anonymised coverage gap only."""
    body: dict[str, Any] = {
        "simulation_id": row.id,
        "status": row.status,
        "progress": {
            "phase": row.phase,
            "done": row.progress,
            "total": row.total,
            "unit": "members",
        },
        "period": row.inputs["period"],
        "created_at": row.created_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }
    if full:
        body |= {
            "created_by": row.created_by,
            "inputs": row.inputs,
            "inputs_digest": row.inputs_digest,
            "error": row.error,
            "report": row.report,
        }
    else:
        body["coverage_gap"] = row.report["coverage_gap"] if row.report else None
    return body
