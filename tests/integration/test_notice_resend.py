"""A dead notice resent (issue 22 §1), on SQLite and PostgreSQL through the API: the bureau only;
the same row back to waiting with the same key and payload; audited with who and which delivery
replaced which; a worker takes it again as stored; a notice no longer dead is refused (409)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from gateway.orchestration.outbox import lease_messages
from gateway.orchestration.transaction import Transaction
from gateway.storage.tables import AuditEntryRow, OutboxRow
from tests.integration.world import World


def test_a_dead_notice_is_resent_with_its_key_and_payload_audited_and_taken_again(world: World) -> None:
    world.setup()
    payload = {"idempotency_key": "adjustment:c1:huiminbao", "member": {"name": "王秀英"}, "delta_fen": -100}
    with world.gateway.sessions.begin() as session:
        row = OutboxRow(
            kind="adjustment",
            payer_code="huiminbao",
            idempotency_key=payload["idempotency_key"],
            payload=payload,
            status="dead",
            attempts=8,
            last_error="gave up after 8 attempts",
        )
        session.add(row)
        session.flush()
        notice = row.id
    path = f"/v1/notices/{notice}/resend"
    assert world.post(path, {}, world.provider).status_code == 403
    sent = world.post(path, {}, world.bureau)
    assert sent.status_code == 200, sent.text
    assert sent.json() == {
        "notice_id": notice,
        "status": "waiting",
        "idempotency_key": payload["idempotency_key"],
        "delivery": 2,
        "replaces": 1,
        "replaced_attempts": 8,
        "replaced_error": "gave up after 8 attempts",
    }
    assert world.post(path, {}, world.bureau).status_code == 409  # no longer dead
    assert world.post("/v1/notices/999999/resend", {}, world.bureau).status_code == 404
    with world.gateway.sessions.begin() as session:  # a worker takes it as stored, attempts afresh
        taken = lease_messages(Transaction(session), "test", timedelta(minutes=1), 10, max_attempts=8)
        assert [(m.id, m.payload) for m in taken] == [(notice, payload)]
        entries = session.scalars(select(AuditEntryRow).where(AuditEntryRow.subject == f"outbox:{notice}"))
        assert [(e.action, e.actor.startswith("bureau:")) for e in entries] == [("outbox.resent", True)]
