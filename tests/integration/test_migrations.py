"""Migrations: the migrated schema is the models' schema, on both databases; and the audit chain
written before sealing after commit (revision 0007) still verifies after 0008."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session

from gateway import audit
from gateway.audit import GENESIS, _digest, verify
from gateway.storage.database import make_engine
from gateway.storage.migrate import alembic_config
from gateway.storage.tables import AuditEntryRow, Base, MismatchRow, utcnow
from tests.conftest import DatabaseUnderTest, _with_search_path


@pytest.fixture
def empty(database: DatabaseUnderTest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database (a schema of its own on PostgreSQL)."""
    if database.backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"ltc_migrate_{secrets.token_hex(3)}"
    with database.engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(_with_search_path(database.url.split("?")[0], schema))
    try:
        yield engine
    finally:
        engine.dispose()
        with database.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def _upgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_the_migrated_schema_is_the_models_schema(empty: Engine) -> None:
    _upgrade(empty, "head")
    with empty.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_an_audit_chain_from_before_sealing_still_verifies_and_grows(empty: Engine) -> None:
    _upgrade(empty, "0007")
    key = audit.audit_key()
    previous = GENESIS
    with empty.begin() as connection:
        for n in range(1, 4):  # entries as revision 0007 wrote them: chained as they were written
            entry = AuditEntryRow(
                id=n, at=utcnow(), actor="system", action="key.created", subject=f"key:{n}", detail={}
            )
            digest = _digest(key, previous, entry)
            connection.execute(
                text(
                    "INSERT INTO audit_log (id, at, actor, action, subject, detail, prev_hash, hash) "
                    "VALUES (:id, :at, 'system', 'key.created', :subject, '{}', :prev, :hash)"
                ),
                {"id": n, "at": entry.at, "subject": entry.subject, "prev": previous, "hash": digest},
            )
            previous = digest
        connection.execute(
            text("INSERT INTO audit_head (id, last_id, hash) VALUES (1, 3, :hash)"), {"hash": previous}
        )
    _upgrade(empty, "head")
    with Session(empty) as session, session.begin():
        assert verify(session, key).problems == []
        audit.record(session, "key.revoked", "key:1")  # the database now gives the id
    with Session(empty) as session, session.begin():
        verdict = verify(session, key)
    assert verdict.problems == [] and verdict.entries == 4


def _downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


_QUEUED = "SELECT * FROM queue_totals WHERE payer_code = 'huiminbao'"


def _mismatch(engine: Engine) -> None:
    """A work-queue item: 0035's triggers raise the queue's totals (0037's, of a slot)."""
    today = utcnow().date()
    with engine.begin() as connection:
        connection.execute(
            insert(MismatchRow).values(
                kind="UNDERPAID", payer_code="huiminbao", claim_id=uuid.uuid4(), line_no=1, expected_fen=100,
                settled_fen=0, difference_fen=-100, status="open", first_seen=today, last_seen=today,
                last_run_id=0,
            )
        )  # fmt: skip


def test_the_figure_slots_fold_back_on_downgrade_and_spread_again_on_upgrade(empty: Engine) -> None:
    _upgrade(empty, "head")
    with empty.begin() as connection:  # one key's totals over three slots
        for slot, items, fen in ((0, 1, -10), (3, 2, -20), (7, -1, 5)):
            connection.execute(
                text(
                    "INSERT INTO queue_totals (status, payer_code, kind, items, difference_fen, slot)"
                    " VALUES ('open', 'huiminbao', 'UNDERPAID', :items, :fen, :slot)"
                ),
                {"items": items, "fen": fen, "slot": slot},
            )
    _downgrade(empty, "0036")
    with empty.connect() as connection:
        assert [tuple(r) for r in connection.execute(text(_QUEUED))] == [
            ("open", "huiminbao", "UNDERPAID", 2, -25)
        ]
    _mismatch(empty)  # 0035's triggers are back
    with empty.connect() as connection:
        assert [tuple(r) for r in connection.execute(text(_QUEUED))] == [
            ("open", "huiminbao", "UNDERPAID", 3, -125)
        ]
    _upgrade(empty, "head")
    _mismatch(empty)
    with empty.connect() as connection:
        rows = connection.execute(text(_QUEUED + " ORDER BY slot")).mappings().all()
    assert sum(r["items"] for r in rows) == 4 and sum(r["difference_fen"] for r in rows) == -225
    # PostgreSQL's triggers write the backend's slot, SQLite's slot 0
    postgres = empty.dialect.name == "postgresql"
    assert [(r["slot"] != 0, r["items"]) for r in rows] == (
        [(False, 3), (True, 1)] if postgres else [(False, 4)]
    )
