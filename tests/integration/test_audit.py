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


# --- a cut end: the head is authenticated, and external checkpoints catch a replayed head ---------


def cut_after(world: World, seq: int) -> None:
    with world.gateway.sessions.begin() as session:
        session.execute(delete(AuditEntryRow).where(AuditEntryRow.seq > seq))


def head_row(world: World) -> dict[str, object]:
    with world.gateway.sessions.begin() as session:
        head = session.get_one(AuditHeadRow, 1)
        return {"last_id": head.last_id, "last_seq": head.last_seq, "hash": head.hash, "mac": head.mac}


def test_a_cut_tail_without_rolling_the_head_back_fails_naming_the_entry(
    world: World, tmp_path: Path
) -> None:
    world.setup()
    world.gateway.sealer.seal_now()
    rows = sorted(entries(world), key=lambda e: e.seq or 0)
    kept, last = rows[-4], rows[-1]
    cut_after(world, kept.seq or 0)
    assert tampered(world) == [
        f"the chain ends at entry {kept.id} but its head says {last.id} (entries deleted)"
    ]
    result = ltc("audit", "verify", url=world.gateway.settings.database_url, cwd=tmp_path)
    assert result.returncode == 1 and f"entry {kept.id}" in result.stdout


def test_a_cut_tail_with_the_head_rolled_back_fails_on_the_head_s_mac(world: World, tmp_path: Path) -> None:
    """Deleting the last entries and editing the head to end at the new last entry: the head's
    MAC (under the audit key, which database access does not give) no longer matches."""
    world.setup()
    world.gateway.sealer.seal_now()
    kept = sorted(entries(world), key=lambda e: e.seq or 0)[-4]
    cut_after(world, kept.seq or 0)
    with world.gateway.sessions.begin() as session:
        session.execute(update(AuditHeadRow).values(last_id=kept.id, last_seq=kept.seq, hash=kept.hash))
    problems = tampered(world)
    assert problems == [
        f"the chain's head (entry {kept.id}) does not match its MAC "
        "(rolled back or edited: entries may have been deleted)"
    ]
    result = ltc("audit", "verify", url=world.gateway.settings.database_url, cwd=tmp_path)
    assert result.returncode == 1 and "does not match its MAC" in result.stdout
    # and the sealer does not chain new entries onto the rolled-back head (that would launder it)
    world.submit()
    world.gateway.sealer.seal_now()
    assert all(e.seq is None for e in entries(world) if e.id > kept.id)
    assert tampered(world)[0] == problems[0] and "left unsealed" in tampered(world)[1]


def test_a_cut_tail_with_an_older_genuine_head_restored_fails_against_a_later_checkpoint(
    world: World, tmp_path: Path
) -> None:
    """A replay: the head copied while genuine, written back after deleting what came after it.
    Its MAC fits, so only a checkpoint kept outside the database shows the cut."""
    url = world.gateway.settings.database_url
    world.setup()
    world.gateway.sealer.seal_now()
    old_head = head_row(world)
    world.submit()
    world.gateway.sealer.seal_now()
    issued = ltc("audit", "checkpoint", url=url, cwd=tmp_path)
    assert issued.returncode == 0, issued.stderr
    line = issued.stdout.strip()
    assert line.startswith("ltc-audit-checkpoint v1 seq=") and " mac=" in line
    (tmp_path / "checkpoints").write_text(line + "\n")
    before_cut = ltc("audit", "verify", "--checkpoint", "checkpoints", url=url, cwd=tmp_path)
    assert before_cut.returncode == 0 and "through 1 checkpoint" in before_cut.stdout

    cut_after(world, int(str(old_head["last_seq"])))
    with world.gateway.sessions.begin() as session:
        session.execute(update(AuditHeadRow).values(**old_head))
    assert tampered(world) == []  # the replayed head is genuine: without a checkpoint it passes
    for given in (line, "checkpoints"):
        result = ltc("audit", "verify", "--checkpoint", given, url=url, cwd=tmp_path)
        assert result.returncode == 1, result.stdout
        assert f"before the checkpoint at place {line.split('seq=')[1].split()[0]}" in result.stdout
    # entries chained after the replay take the deleted places, with other hashes: still caught
    world.submit(world.claim_body(claim_number="AFTER-REPLAY"))
    world.gateway.sealer.seal_now()
    result = ltc("audit", "verify", "--checkpoint", line, url=url, cwd=tmp_path)
    assert result.returncode == 1 and "entries deleted" in result.stdout


def test_a_checkpoint_that_is_forged_or_unreadable_is_refused_without_a_traceback(
    world: World, tmp_path: Path
) -> None:
    url = world.gateway.settings.database_url
    world.setup()
    line = ltc("audit", "checkpoint", url=url, cwd=tmp_path).stdout.strip()
    forged = line.replace("seq=", "seq=9")
    for given in (forged, "no-such-file", "ltc-audit-checkpoint v1 nonsense"):
        result = ltc("audit", "verify", "--checkpoint", given, url=url, cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.startswith("error: ")
        assert "Traceback" not in result.stderr
