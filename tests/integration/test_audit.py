"""The audit trail: every state change of a claim, a decision, an adjustment, a mismatch and a key
is recorded, and ``audit verify`` detects an edited, inserted or deleted entry."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update

from gateway.audit import seal, verify
from gateway.storage.tables import AuditEntryRow, AuditHeadRow
from tests.integration.test_cli import ltc
from tests.integration.test_payers import drain
from tests.integration.world import World


def entries(world: World) -> list[AuditEntryRow]:
    with world.gateway.sessions.begin() as session:
        rows = list(session.scalars(select(AuditEntryRow).order_by(AuditEntryRow.id)))
        session.expunge_all()
        return rows


def test_a_claim_s_life_is_audited_and_the_chain_verifies(world: World, tmp_path: Path) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    revision = {
        "claim_id": claim_id,
        "product_code": "CITY-LTCI-2025",
        "status": "decided",
        "lines": [
            {
                "line_no": 1,
                "paid_fen": 180000,
                "reasons": [
                    {"code": "OVER_UNIT_LIMIT", "amount_fen": 150000},
                    {"code": "COINSURANCE", "amount_fen": 120000},
                ],
            }
        ],
    }
    assert (
        world.post("/v1/payers/policy-ltci/decisions", revision, world.payer("policy-ltci")).status_code
        == 200
    )
    drain(world)
    actions = [e.action for e in entries(world) if e.subject == f"claim:{claim_id}"]
    assert actions[0] == "claim.accepted"
    assert actions.count("decision.recorded") == 4 + 3  # round 1, then the revised and later tiers
    assert {"decision.received", "claim.revised", "adjustments.recorded", "claim.coordinated"} <= set(actions)
    keys = [e for e in entries(world) if e.action == "key.created"]
    assert keys and all(e.actor == "system" for e in keys)
    with world.gateway.sessions.begin() as session:
        verdict = verify(session)
    assert verdict.intact and verdict.entries == len(entries(world))
    result = ltc("audit", "verify", url=world.gateway.settings.database_url, cwd=tmp_path)
    assert result.returncode == 0 and "intact" in result.stdout


def tampered(world: World) -> list[str]:
    with world.gateway.sessions.begin() as session:
        return verify(session).problems


def test_an_edited_entry_is_detected(world: World, tmp_path: Path) -> None:
    world.setup()
    world.submit()
    world.gateway.sealer.seal_now()
    target = entries(world)[-1]
    with world.gateway.sessions.begin() as session:
        session.execute(
            update(AuditEntryRow).where(AuditEntryRow.id == target.id).values(actor="someone-else")
        )
    assert tampered(world) == [f"entry {target.id}: its content does not match its hash (edited)"]
    result = ltc("audit", "verify", url=world.gateway.settings.database_url, cwd=tmp_path)
    assert result.returncode == 1 and "BROKEN" in result.stdout


def test_a_deleted_entry_is_detected(world: World) -> None:
    world.setup()
    world.submit()
    world.gateway.sealer.seal_now()
    middle = entries(world)[2]
    with world.gateway.sessions.begin() as session:
        session.execute(delete(AuditEntryRow).where(AuditEntryRow.id == middle.id))
    problems = tampered(world)
    assert problems and problems[0].startswith(f"entry {middle.id + 1}:")


def test_a_cut_end_is_detected(world: World) -> None:
    world.setup()
    world.gateway.sealer.seal_now()
    last = entries(world)[-1]
    with world.gateway.sessions.begin() as session:
        session.execute(delete(AuditEntryRow).where(AuditEntryRow.id == last.id))
    assert tampered(world) == [
        f"the chain ends at entry {last.id - 1} but its head says {last.id} (entries deleted)"
    ]


def test_an_inserted_entry_is_detected(world: World) -> None:
    world.setup()
    world.gateway.sealer.seal_now()
    rows = entries(world)
    first = rows[0]
    forged_id = rows[-1].id + 100
    with world.gateway.sessions.begin() as session:
        session.execute(
            text(
                "INSERT INTO audit_log (id, at, actor, action, subject, detail, seq, prev_hash, hash) "
                "VALUES (:id, :at, 'forger', 'claim.accepted', 'claim:x', '{}', :seq, :prev, :hash)"
            ),
            {
                "id": forged_id,
                "at": first.at,
                "seq": rows[-1].seq + 1,
                "prev": rows[-1].hash,
                "hash": "f" * 64,
            },
        )
    problems = tampered(world)
    assert problems and problems[0].startswith(f"entry {forged_id}:")


def test_an_entry_inserted_for_sealing_is_never_sealed(world: World) -> None:
    """A row slipped in unsealed, to be chained by the sealer, has no valid MAC: it stays out."""
    world.setup()
    forged_id = entries(world)[-1].id + 100
    with world.gateway.sessions.begin() as session:
        session.execute(
            text(
                "INSERT INTO audit_log (id, at, actor, action, subject, detail, nonce, mac) "
                "VALUES (:id, :at, 'forger', 'claim.accepted', 'claim:x', '{}', 'n', :mac)"
            ),
            {"id": forged_id, "at": entries(world)[0].at, "mac": "0" * 64},
        )
    assert tampered(world) == [
        f"entry {forged_id}: its content does not match its MAC and it was never sealed (edited or inserted)"
    ]
    assert next(e for e in entries(world) if e.id == forged_id).seq is None


def test_entries_chain_after_commit_without_holding_up_the_writers(world: World) -> None:
    """Writing an entry takes no lock on the chain's head; the process seals after commit."""
    world.setup()
    world.submit()
    world.gateway.sealer.close()  # waits for the sealer and seals what is left
    rows = entries(world)
    assert rows and all(e.seq is not None and e.hash for e in rows)
    assert [e.seq for e in sorted(rows, key=lambda e: e.seq or 0)] == list(range(1, len(rows) + 1))


def test_two_sealers_creating_the_chain_s_head_at_once_both_succeed(world: World) -> None:
    """The first seal of a database creates the head; a second sealer arriving meanwhile (every
    process has one, and verify seals too) waits for it instead of failing on its key."""
    gateway = world.gateway
    if gateway.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: a second sealer cannot arrive meanwhile")
    gateway.sealer.close()
    with gateway.sessions.begin() as session:
        session.execute(delete(AuditHeadRow))
    first = gateway.sessions()
    first.begin()
    seal(first)  # holds the new, uncommitted head
    outcome: list[BaseException | int] = []

    def second() -> None:
        try:
            with gateway.sessions.begin() as session:
                outcome.append(seal(session))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive()  # waiting on the first sealer's head
    first.commit()
    first.close()
    thread.join(timeout=10)
    assert outcome == [0]
