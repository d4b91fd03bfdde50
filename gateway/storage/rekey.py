"""``ltc-gateway data rekey`` for stored messages: every personal field sealed under an older
data key is sealed again under the current one (payer steps' requests, outbox notices, the
answers kept with idempotency keys, providers' webhook secrets). Read raw, in batches of their own
transactions, so a long table neither holds one lock nor starts again from the beginning after an
interruption: rows already under the current key are left as they are. A resealed message opens to the same
document, so a step's resend stays byte-identical."""

from __future__ import annotations

from typing import cast

from sqlalchemy import JSON, Table, Text, bindparam, select, tuple_, type_coerce, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.storage.personal import current_key_id, decrypt, encrypt, reseal_fields
from gateway.storage.tables import IdempotencyKeyRow, OutboxRow, PayerStepRow, WebhookEndpointRow

BATCH = 500


def rekey_messages(sessions: sessionmaker[Session], batch: int = BATCH) -> dict[str, int]:
    """Reseal every stored message under the current data key; how many rows changed, by table."""
    steps, outbox = cast(Table, PayerStepRow.__table__), cast(Table, OutboxRow.__table__)
    return {
        "payer_steps": _reseal_json(sessions, steps, "step_id", "request", batch),
        "outbox": _reseal_json(sessions, outbox, "id", "payload", batch),
        "idempotency_keys": _reencrypt_answers(sessions, batch),
        "webhook_secrets": _reencrypt_secrets(sessions, batch),
    }


def _reseal_json(sessions: sessionmaker[Session], table: Table, key_name: str, name: str, batch: int) -> int:
    key, column = table.c[key_name], table.c[name]
    raw = type_coerce(column, JSON)  # as stored: the sealed fields, not opened
    write = update(table).where(key == bindparam("_key")).values({name: bindparam("_value", type_=JSON)})
    changed, after = 0, None
    while True:
        with sessions.begin() as session:
            query = select(key, raw).where(column.isnot(None)).order_by(key).limit(batch)
            if after is not None:
                query = query.where(key > after)
            rows = session.execute(query.with_for_update()).all()
            if not rows:
                return changed
            updates = []
            for row_key, stored in rows:
                document, resealed = reseal_fields(stored)
                if resealed:
                    updates.append({"_key": row_key, "_value": document})
            if updates:
                session.connection().execute(write, updates)
            changed += len(updates)
            after = rows[-1][0]


def _reencrypt_answers(sessions: sessionmaker[Session], batch: int) -> int:
    """The kept answers are encrypted whole: those not under the current key, found by its prefix."""
    keys = (IdempotencyKeyRow.party_code, IdempotencyKeyRow.role, IdempotencyKeyRow.key)
    raw = type_coerce(IdempotencyKeyRow.body, Text)
    table = cast(Table, IdempotencyKeyRow.__table__)
    write = (
        update(table)
        .where(
            table.c.party_code == bindparam("_party"),
            table.c.role == bindparam("_role"),
            table.c.key == bindparam("_key"),
        )
        .values(body=bindparam("_body", type_=Text))
    )
    changed, after = 0, None
    prefix = f"{current_key_id()}:%"
    while True:
        with sessions.begin() as session:
            query = select(*keys, raw).where(raw.not_like(prefix)).order_by(*keys).limit(batch)
            if after is not None:
                query = query.where(tuple_(*keys) > tuple_(*after))
            rows = session.execute(query.with_for_update()).all()
            if not rows:
                return changed
            session.connection().execute(
                write,
                [
                    {"_party": p, "_role": r, "_key": k, "_body": encrypt(decrypt(body))}
                    for p, r, k, body in rows
                ],
            )
            changed += len(rows)
            after = rows[-1][:3]


def _reencrypt_secrets(sessions: sessionmaker[Session], batch: int) -> int:
    """Providers' webhook secrets (encrypted whole) not under the current key."""
    table = cast(Table, WebhookEndpointRow.__table__)
    raw = type_coerce(table.c.secret, Text)
    write = (
        update(table).where(table.c.id == bindparam("_id")).values(secret=bindparam("_secret", type_=Text))
    )
    prefix, changed = f"{current_key_id()}:%", 0
    while True:
        with sessions.begin() as session:
            query = select(table.c.id, raw).where(raw.not_like(prefix)).order_by(table.c.id).limit(batch)
            rows = session.execute(query.with_for_update()).all()
            if not rows:
                return changed
            session.connection().execute(
                write, [{"_id": row_id, "_secret": encrypt(decrypt(stored))} for row_id, stored in rows]
            )
            changed += len(rows)
