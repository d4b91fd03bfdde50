"""Running a simulation: inputs checked, drafts built, the period's history streamed through the
replay (in parallel processes over shards of members, which are independent), the report and
the coverage gap made, and the simulation stored and audited. Only the ``simulations`` table is
written; the live tables are read in a transaction that is rolled back.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import multiprocessing
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway import audit
from gateway.domain.products import Product
from gateway.errors import Invalid
from gateway.simulation import history
from gateway.simulation.drafts import draft_products
from gateway.simulation.fold import fold
from gateway.simulation.gap import GapTally, gap_report
from gateway.simulation.replay import replay
from gateway.simulation.report import Funding, Tally, report
from gateway.simulation.shard_rows import collector_paused
from gateway.storage import personal
from gateway.storage.database import make_engine
from gateway.storage.tables import SimulationRow, utcnow

Progress = Callable[[int, int], None]  # members done, members in all
_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
DEFAULT_K = 10
MAX_MONTHS = 12
MAX_DRAFTS = 20


def _months(first: str, last: str) -> int:
    return (int(last[:4]) - int(first[:4])) * 12 + int(last[5:]) - int(first[5:]) + 1


@dataclass(frozen=True)
class Inputs:
    period: history.Period
    drafts: tuple[Mapping[str, Any], ...] = ()
    funding: Funding = field(default_factory=Funding)

    def to_json(self) -> dict[str, Any]:
        return {
            "period": {"from": self.period.first, "to": self.period.last},
            "drafts": [dict(d) for d in self.drafts],
            "funding": {
                "per_person_year_fen": self.funding.per_person_year_fen,
                "enrolled_members": self.funding.enrolled_members,
                "fund_balance_fen": self.funding.fund_balance_fen,
            },
        }


def inputs(document: Mapping[str, Any]) -> Inputs:
    """Inputs from a JSON document (the CLI and the API give the same), faults naming the field."""
    faults = []
    if not isinstance(document, Mapping):
        raise Invalid([("", "must be an object with period, drafts and funding")])
    period = document.get("period") or {}
    if not isinstance(period, Mapping):
        period = {}
    for name in ("from", "to"):
        if not isinstance(period.get(name), str) or not _MONTH.match(period[name]):
            faults.append((f"/period/{name}", "must be a month YYYY-MM"))
    if not faults and period["from"] > period["to"]:
        faults.append(("/period/to", "must not be before from"))
    elif not faults and _months(period["from"], period["to"]) > MAX_MONTHS:
        faults.append(("/period/to", f"a simulation covers one period of at most {MAX_MONTHS} months"))
    drafts = document.get("drafts", [])
    if not isinstance(drafts, list) or not all(isinstance(d, Mapping) for d in drafts):
        faults.append(("/drafts", "must be a list of draft products"))
    elif len(drafts) > MAX_DRAFTS:
        faults.append(("/drafts", f"at most {MAX_DRAFTS} drafts"))
    funding = document.get("funding") or {}
    if not isinstance(funding, Mapping):
        faults.append(("/funding", "must be an object"))
        funding = {}
    values = {}
    for name in ("per_person_year_fen", "enrolled_members", "fund_balance_fen"):
        value = funding.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            faults.append((f"/funding/{name}", "must be a whole number of at least 0"))
        values[name] = value
    if faults:
        raise Invalid(faults)
    return Inputs(
        history.Period(period["from"], period["to"]),
        tuple(drafts),
        Funding(values["per_person_year_fen"] or 0, values["enrolled_members"], values["fund_balance_fen"]),
    )


def _merge(into: Tally, part: Tally) -> None:
    for code, entry in part.products.items():
        mine = into.products.setdefault(
            code, {**entry, "paid_fen": [0, 0], "claims": [0, 0], "members": [set(), set()]}
        )
        for i in (0, 1):
            mine["paid_fen"][i] += entry["paid_fen"][i]
            mine["claims"][i] += entry["claims"][i]
            mine["members"][i] |= entry["members"][i]
    for at, sums in part.pending.items():  # the claims' sums not yet added to the cells
        sofar = into.pending.get(at)
        if sofar is None:
            into.pending[at] = sums.copy()
        else:
            for i, fen in enumerate(sums):
                sofar[i] += fen
    for dimension, cells in part.cells.items():
        for key, measures in cells.items():
            for measure, (actual, simulated) in measures.items():
                into._add(dimension, key, measure, actual, simulated)
    for member, pair in part.member_responsibility.items():
        into.member_responsibility[member][0] += pair[0]
        into.member_responsibility[member][1] += pair[1]
    for code, entry in part.fixed.items():
        mine = into.fixed.setdefault(code, {"paid_fen": [0, 0], "member_months": [0, 0]})
        for name in ("paid_fen", "member_months"):
            for i in (0, 1):
                mine[name][i] += entry[name][i]
    into.months |= part.months
    into.claims += part.claims
    into.lines += part.lines
    into.billed_fen += part.billed_fen


def _merge_gap(into: GapTally, part: GapTally) -> None:
    for cell, members in part.members.items():
        into.members[cell] |= members
        into.gap_fen[cell] += part.gap_fen[cell]
        into.billed_fen[cell] += part.billed_fen[cell]


def tally_shard(
    session: Session, period: history.Period, drafts: Mapping[str, Product], shard: Sequence[Any] | None
) -> Iterator[tuple[Tally, GapTally, int]]:
    """The shard's members replayed: a tally after each block of members (for progress)."""
    tally, gap, done = Tally(), GapTally(), 0
    for member in history.histories(session, period, shard=shard):
        for outcome in replay(member, drafts):
            folded = fold(outcome)  # the claim's lines gone over once, for both
            tally.add(member.member, outcome, folded)
            gap.add(member.member, outcome, folded)
        done += 1
        if done % history.SHARD == 0:
            yield tally, gap, done
            tally, gap, done = Tally(), GapTally(), 0
    yield tally, gap, done


_worker_engine: Engine | None = None  # one a worker process, opened when the pool starts it


def _open_worker(url: str) -> None:
    global _worker_engine
    _worker_engine = make_engine(url)
    atexit.register(_worker_engine.dispose)


def _process_shard(
    job: tuple[history.Period, dict[str, Product], list[Any]],
) -> tuple[Tally, GapTally, int]:
    period, drafts, shard = job
    assert _worker_engine is not None
    tally, gap, done = Tally(), GapTally(), 0
    with Session(_worker_engine) as session, collector_paused():
        for part, part_gap, n in tally_shard(session, period, drafts, shard):
            _merge(tally, part)
            _merge_gap(gap, part_gap)
            done += n
        session.rollback()
    return tally, gap, done


def compute(
    sessions: sessionmaker[Session],
    url: str,
    given: Inputs,
    *,
    processes: int = 1,
    k: int = DEFAULT_K,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The report (with its gap report) for ``given``; nothing is written."""
    # short read transactions, one a block of members: on SQLite every transaction takes the
    # write lock, and the progress is written between them
    with sessions() as session:
        drafts = draft_products(given.drafts, history.current_definitions(session))
        everyone = history.members(session, given.period)
        session.rollback()
    tally, gap, done = Tally(), GapTally(), 0
    block = history.SHARD * 5
    if processes > 1:  # every process a shard, however few the members
        block = max(1, min(block, -(-len(everyone) // processes)))
    shards = [everyone[i : i + block] for i in range(0, len(everyone), block)]
    if processes > 1 and len(shards) > 1 and ":memory:" not in url:
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes, initializer=_open_worker, initargs=(url,)) as pool:
            jobs = [(given.period, drafts, shard) for shard in shards]
            for part, part_gap, n in pool.imap_unordered(_process_shard, jobs):
                _merge(tally, part)
                _merge_gap(gap, part_gap)
                done += n
                if progress is not None:
                    progress(done, len(everyone))
    else:
        for shard in shards:
            with sessions() as session, collector_paused():
                for part, part_gap, n in tally_shard(session, given.period, drafts, shard):
                    _merge(tally, part)
                    _merge_gap(gap, part_gap)
                    done += n
                session.rollback()
            if progress is not None:
                progress(done, len(everyone))
    result = report(tally, given.funding)
    result["coverage_gap"] = gap_report(gap, k, cell_key())
    result["drafts"] = sorted(drafts)
    return result


def cell_key() -> bytes:
    """The secret the coverage gap's perturbations are drawn with (``gap``): kept with the
    look-up key, never in the database, the same for every run (reproducible figures)."""
    return bytes.fromhex(personal.signature("simulation coverage-gap cells", b""))


def digest(document: Mapping[str, Any]) -> str:
    """The inputs' fingerprint, audited: the same inputs have the same digest."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(session: Session, inputs_json: Mapping[str, Any], actor: str, status: str = "running") -> int:
    """A simulation stored as asked for (its inputs and their digest) and audited; its id."""
    row = SimulationRow(
        created_by=actor,
        inputs=dict(inputs_json),
        status=status,
        phase=status,
        progress=0,
        inputs_digest=digest(inputs_json),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        "simulation.started",
        f"simulation:{row.id}",
        actor,
        inputs=dict(inputs_json),
        inputs_digest=row.inputs_digest,
    )
    return row.id


def advance(sessions: sessionmaker[Session], simulation_id: int, phase: str, done: int, total: int) -> None:
    """The progress a reader polls for (and the run's heartbeat)."""
    with sessions.begin() as session:
        row = session.get_one(SimulationRow, simulation_id)
        row.status, row.phase, row.progress, row.total, row.updated_at = (
            "running",
            phase,
            done,
            total,
            utcnow(),
        )


def fail(sessions: sessionmaker[Session], simulation_id: int, actor: str, error: BaseException) -> None:
    with sessions.begin() as session:
        row = session.get_one(SimulationRow, simulation_id)
        row.status, row.phase, row.updated_at = "failed", "failed", utcnow()
        row.error = (getattr(error, "detail", None) or type(error).__name__)[:200]
        audit.record(session, "simulation.failed", f"simulation:{simulation_id}", actor, error=row.error)


def finish(sessions: sessionmaker[Session], simulation_id: int, actor: str, result: dict[str, Any]) -> None:
    """The report stored, and audited with its headline figures."""
    with sessions.begin() as session:
        row = session.get_one(SimulationRow, simulation_id)
        row.status, row.phase, row.report, row.finished_at = "done", "done", result, utcnow()
        row.progress = row.total = result["members"]
        row.updated_at = row.finished_at
        audit.record(
            session,
            "simulation.done",
            f"simulation:{simulation_id}",
            actor,
            claims=result["claims"],
            tiers={tier: entry["paid_fen"] for tier, entry in result["tiers"].items()},
        )


def simulate(
    sessions: sessionmaker[Session],
    url: str,
    document: Mapping[str, Any],
    actor: str,
    *,
    processes: int = 1,
    k: int = DEFAULT_K,
    progress: Progress | None = None,
) -> tuple[int, dict[str, Any]]:
    """Run and store a simulation; its id and report. Audited when asked for and when done."""
    given = inputs(document)
    with sessions.begin() as session:
        draft_products(given.drafts, history.current_definitions(session))  # refused before it is stored
        simulation_id = record(session, given.to_json(), actor)

    def tick(done: int, total: int) -> None:
        advance(sessions, simulation_id, "replaying", done, total)
        if progress is not None:
            progress(done, total)

    try:
        result = compute(sessions, url, given, processes=processes, k=k, progress=tick)
    except Exception as error:
        fail(sessions, simulation_id, actor, error)
        raise
    finish(sessions, simulation_id, actor, result)
    return simulation_id, result
