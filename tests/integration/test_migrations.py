"""Migrations: the migrated schema is the models' schema, on both databases; and the audit chain
written before sealing after commit (revision 0007) still verifies after 0008."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gateway import audit
from gateway.audit import GENESIS, _digest, verify
from gateway.storage.database import make_engine
from gateway.storage.migrate import alembic_config
from gateway.storage.tables import AuditEntryRow, Base, utcnow
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
