"""The audit trail: every state change of a claim, a decision, an adjustment, a mismatch and a key
is recorded, and ``audit verify`` detects an edited, inserted or deleted entry."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update

from gateway.audit import seal, verify
from gateway.ledger import business_date
from gateway.services.keys import Role
from gateway.storage.tables import AssessmentRow, AuditEntryRow, AuditHeadRow
from tests.integration.test_cli import ltc
from tests.integration.test_payers import drain
from tests.integration.test_reconciliation import statement_entries
from tests.integration.world import World, auth


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
    refused = ltc("audit", "checkpoint", url=world.gateway.settings.database_url, cwd=tmp_path)
    assert refused.returncode == 1 and refused.stdout == "" and "no checkpoint issued" in refused.stderr


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
    with gateway.sessions.begin() as session:  # a database with no chain yet
        session.execute(delete(AuditEntryRow))
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


def test_a_cut_tail_with_the_head_deleted_is_detected_and_nothing_is_chained_anew(
    world: World, tmp_path: Path
) -> None:
    """Without its head a new chain would start over the old one (and fail on its places)."""
    world.setup()
    world.gateway.sealer.seal_now()
    cut_after(world, 2)
    with world.gateway.sessions.begin() as session:
        session.execute(delete(AuditHeadRow))
    world.submit()
    world.gateway.sealer.seal_now()
    problems = tampered(world)
    assert problems[0] == "the chain's head is missing (deleted: entries may have been deleted too)"
    assert "left unsealed" in problems[1]
    result = ltc("audit", "verify", url=world.gateway.settings.database_url, cwd=tmp_path)
    assert result.returncode == 1 and "head is missing" in result.stdout and "Traceback" not in result.stderr


def test_a_checkpoint_that_is_forged_or_unreadable_is_refused_without_a_traceback(
    world: World, tmp_path: Path
) -> None:
    url = world.gateway.settings.database_url
    world.setup()
    line = ltc("audit", "checkpoint", url=url, cwd=tmp_path).stdout.strip()
    forged = line.replace("seq=", "seq=9")
    for given in (forged, "no-such-file", "ltc-audit-checkpoint v1 nonsense"):
        result = ltc("audit", "verify", "--checkpoint", given, url=url, cwd=tmp_path)
        # one line naming the fault (after the development-keys warning every command prints)
        assert result.returncode == 2 and result.stderr.splitlines()[-1].startswith("error: ")
        assert "Traceback" not in result.stderr


# --- every state change is audited: who, when, before and after ---------------------------------

PERSONAL = ("11010519491231002X", "王秀英", "示例路")


def audited(world: World, action: str, subject: str | None = None) -> list[AuditEntryRow]:
    found = [e for e in entries(world) if e.action == action and subject in (None, e.subject)]
    assert found, f"no {action} entry for {subject}"
    return found


def key_id(key: str) -> str:
    return key.split("_")[1]


def assert_no_personal_data(world: World) -> None:
    for entry in entries(world):
        text_ = json.dumps(entry.detail, ensure_ascii=False) + entry.subject + entry.actor
        assert not [p for p in PERSONAL if p in text_], entry.action


def test_an_assessment_is_audited_with_who_and_its_grade_but_not_the_member_s_identity(
    world: World,
) -> None:
    world.setup()
    (entry,) = audited(world, "assessment.submitted", f"assessment:{world.assessment_id}")
    agency = world.scenario["assessment"]["agency_code"]
    assert entry.actor == f"provider:{agency}/key:{key_id(world.agency)}" and entry.at is not None
    assert entry.detail["before"] is None
    after = entry.detail["after"]
    assert after["grade"] == 4 and after["agency_code"] == agency and after["concluded_on"] == "2026-09-01"
    with world.gateway.sessions.begin() as session:
        member_id = str(session.get_one(AssessmentRow, uuid.UUID(world.assessment_id)).member_id)
    assert after["member_id"] == member_id
    assert_no_personal_data(world)


def test_an_enrolment_is_audited_created_and_updated_with_before_and_after(world: World) -> None:
    world.setup()
    created = audited(world, "enrollment.created")
    assert len(created) == len(world.scenario["enrollments"])
    tier1 = next(e for e in created if e.detail["after"]["product_code"] == "CITY-LTCI-2025")
    assert tier1.actor == f"bureau:bureau/key:{key_id(world.bureau)}" and tier1.subject.startswith("member:")
    assert tier1.detail["before"] is None and tier1.detail["after"]["start_date"] == "2020-01-01"
    enrollment = {
        "id_number": PERSONAL[0],
        "product_code": "HMB-LTC-2026",
        "start_date": "2025-01-01",
        "end_date": "2026-12-31",
    }
    key = world.payer("huiminbao")
    response = world.post("/v1/payers/huiminbao/enrollments", {"enrollments": [enrollment]}, key)
    assert response.status_code == 200, response.text
    (updated,) = audited(world, "enrollment.updated")
    assert updated.actor == f"payer:huiminbao/key:{key_id(key)}" and updated.subject == tier1.subject
    assert (
        updated.detail["before"]["end_date"] is None and updated.detail["after"]["end_date"] == "2026-12-31"
    )
    assert_no_personal_data(world)


def test_a_provider_registration_is_audited_with_before_and_after(world: World) -> None:
    world.setup()
    provider = world.scenario["provider"]
    subject = f"provider:{provider['provider_code']}"
    (registered,) = audited(world, "provider.registered", subject)
    assert registered.actor == f"bureau:bureau/key:{key_id(world.bureau)}"
    assert registered.detail["before"] is None and registered.detail["after"]["district"] == "330102"
    assert world.post("/v1/providers", {**provider, "district": "330103"}, world.bureau).status_code == 200
    (updated,) = audited(world, "provider.updated", subject)
    assert (
        updated.detail["before"]["district"] == "330102" and updated.detail["after"]["district"] == "330103"
    )


def test_an_assessment_agency_registration_is_audited_with_before_and_after(world: World) -> None:
    world.setup()
    agency = {"agency_code": "EVA-AUDIT-1", "name": "评估中心", "designated_from": "2026-01-01"}
    subject = "agency:EVA-AUDIT-1"
    assert world.post("/v1/assessment-agencies", agency, world.bureau).status_code == 201
    (registered,) = audited(world, "agency.registered", subject)
    assert registered.actor == f"bureau:bureau/key:{key_id(world.bureau)}"
    assert registered.detail["before"] is None
    assert registered.detail["after"]["designated_to"] is None
    ended = {**agency, "designated_to": "2026-06-30"}
    assert world.post("/v1/assessment-agencies", ended, world.bureau).status_code == 200
    (updated,) = audited(world, "agency.updated", subject)
    assert updated.detail["before"]["designated_to"] is None
    assert updated.detail["after"]["designated_to"] == "2026-06-30"
    assert world.post("/v1/assessment-agencies", ended, world.bureau).status_code == 200
    assert len(audited(world, "agency.updated", subject)) == 1  # nothing changed, nothing audited


def test_a_routing_change_is_audited_with_the_table_before_and_after(world: World) -> None:
    world.setup()
    path, bureau = "/v1/payers/policy-ltci/routes", world.bureau
    first = [{"district": "330102", "administrator_code": "policy-ltci"}]
    second = [{"district": "330102", "administrator_code": "huiminbao"}]
    for routes in (first, second):
        response = world.client.put(path, json={"routes": routes}, headers=auth(bureau))
        assert response.status_code == 200, response.text
    changes = audited(world, "routes.replaced", "payer:policy-ltci")
    assert [(e.detail["before"], e.detail["after"]) for e in changes] == [([], first), (first, second)]
    assert all(e.actor == f"bureau:bureau/key:{key_id(bureau)}" for e in changes)


def test_a_statement_imported_by_api_and_by_cli_is_audited(world: World, tmp_path: Path) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    key = world.payer("huiminbao")
    document = statement_entries(world, claim_id, 60000, ["HMB-1"])
    headers = {**auth(key), "Content-Type": "application/json"}
    response = world.client.post(
        "/v1/payers/huiminbao/statements", content=json.dumps(document), headers=headers
    )
    assert response.status_code == 201, response.text
    by_api = response.json()["statement_id"]
    path = tmp_path / "statement.json"
    path.write_text(json.dumps(statement_entries(world, claim_id, 60000, ["HMB-2"])))
    url = world.gateway.settings.database_url
    result = ltc("statements", "import", "huiminbao", str(path), url=url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    by_cli = json.loads(result.stdout)["statement_id"]
    (api,) = audited(world, "statement.imported", f"statement:{by_api}")
    (cli,) = audited(world, "statement.imported", f"statement:{by_cli}")
    assert api.actor == f"payer:huiminbao/key:{key_id(key)}" and cli.actor.startswith("cli:")
    for entry in (api, cli):
        assert entry.detail["before"] is None
        assert entry.detail["after"]["imported"] == 1 and entry.detail["after"]["payer_code"] == "huiminbao"
    assert "HMB-1" not in json.dumps(api.detail)  # the statement's rows stay in statement_lines


def test_a_reconciliation_run_is_audited_at_its_start_and_its_finish(world: World) -> None:
    world.setup()
    world.submit()
    drain(world)
    reconciler = world.key(Role.RECONCILER, "r1")
    day = business_date().isoformat()
    response = world.post("/v1/reconciliation/runs", {"business_date": day, "wait": True}, reconciler)
    assert response.status_code == 201, response.text
    subject = f"reconciliation-run:{response.json()['run_id']}"
    (started,) = audited(world, "reconciliation.started", subject)
    (finished,) = audited(world, "reconciliation.finished", subject)
    actor = f"reconciler:r1/key:{key_id(reconciler)}"
    assert started.actor == finished.actor == actor and started.id < finished.id
    assert started.detail["business_date"] == day and started.detail["before"] is None
    assert started.detail["after"] == {"status": "running", "phase": "pull", "runs": 1}
    assert finished.detail["before"] == {"status": "running"}
    assert finished.detail["after"]["status"] == "done" and "totals" in finished.detail["after"]
    again = world.post("/v1/reconciliation/runs", {"business_date": day, "wait": True}, reconciler)
    assert again.status_code == 201
    rerun = audited(world, "reconciliation.started", subject)[-1]
    assert (
        rerun.detail["before"] == {"status": "done", "phase": "done"} and rerun.detail["after"]["runs"] == 2
    )


def test_a_key_created_and_revoked_on_the_command_line_is_audited_with_the_operator(
    world: World, tmp_path: Path
) -> None:
    url = world.gateway.settings.database_url
    created = ltc("keys", "create", "--role", "payer", "--party", "huiminbao", url=url, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    new = key_id(created.stdout.strip())
    assert ltc("keys", "revoke", new, url=url, cwd=tmp_path).returncode == 0
    (made,) = audited(world, "key.created", f"key:{new}")
    (revoked,) = audited(world, "key.revoked", f"key:{new}")
    assert made.actor == revoked.actor and made.actor.startswith("cli:") and made.actor != "cli:"
    assert made.detail["before"] is None
    assert made.detail["after"] == {"role": "payer", "party_code": "huiminbao", "label": None}
    assert revoked.detail["before"] == {"revoked_at": None} and revoked.detail["after"]["revoked_at"]


def test_after_a_full_flow_the_audit_trail_is_intact_and_reaches_its_checkpoint(
    world: World, tmp_path: Path
) -> None:
    url = world.gateway.settings.database_url
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    checkpoint = ltc("audit", "checkpoint", url=url, cwd=tmp_path).stdout.strip()
    key = world.payer("huiminbao")
    headers = {**auth(key), "Content-Type": "application/json"}
    document = json.dumps(statement_entries(world, claim_id, 60000, ["HMB-1"]))
    assert (
        world.client.post("/v1/payers/huiminbao/statements", content=document, headers=headers).status_code
        == 201
    )
    day = business_date().isoformat()
    reconciler = world.key(Role.RECONCILER, "r1")
    assert (
        world.post("/v1/reconciliation/runs", {"business_date": day, "wait": True}, reconciler).status_code
        == 201
    )
    routes = {"routes": [{"district": "330102", "administrator_code": "policy-ltci"}]}
    assert (
        world.client.put("/v1/payers/policy-ltci/routes", json=routes, headers=auth(world.bureau)).status_code
        == 200
    )
    world.gateway.sealer.seal_now()
    kinds = {e.action.split(".")[0] for e in entries(world)}
    assert {"assessment", "enrollment", "provider", "statement", "reconciliation", "routes", "key"} <= kinds
    result = ltc("audit", "verify", "--checkpoint", checkpoint, url=url, cwd=tmp_path)
    assert result.returncode == 0 and "intact" in result.stdout, result.stdout
    assert_no_personal_data(world)
