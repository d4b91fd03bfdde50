"""stored messages hold no personal data as text: the ID number and name in payer steps' requests
and outbox notices are sealed in place, and the answers kept with idempotency keys are encrypted

No column changes type: the requests and notices stay JSON (their other fields readable), the
kept answers stay text.

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-01 23:30:00.000000
"""
from collections.abc import Callable
from typing import Any

from alembic import op
import sqlalchemy as sa

from gateway.storage.personal import decrypt, encrypt, open_fields, seal_fields


revision = '0016'
down_revision = '0013'
branch_labels = None
depends_on = None

BATCH = 500

payer_steps = sa.table('payer_steps', sa.column('step_id', sa.Integer()), sa.column('request', sa.JSON()))
outbox = sa.table('outbox', sa.column('id', sa.Integer()), sa.column('payload', sa.JSON()))
idempotency_keys = sa.table(
    'idempotency_keys',
    sa.column('party_code', sa.String()),
    sa.column('role', sa.String()),
    sa.column('key', sa.String()),
    sa.column('body', sa.Text()),
)


def _documents(table: sa.TableClause, key: str, name: str, change: Callable[[Any], Any]) -> None:
    bind = op.get_bind()
    write = table.update().where(table.c[key] == sa.bindparam('_key')).values({name: sa.bindparam('_value')})
    after = None
    while True:
        query = sa.select(table.c[key], table.c[name]).order_by(table.c[key]).limit(BATCH)
        if after is not None:
            query = query.where(table.c[key] > after)
        rows = bind.execute(query).all()
        if not rows:
            return
        updates = [{'_key': k, '_value': change(v)} for k, v in rows if v is not None]
        if updates:
            bind.execute(write, updates)
        after = rows[-1][0]


def _answers(change: Callable[[str], str]) -> None:
    bind = op.get_bind()
    t = idempotency_keys
    keys = (t.c.party_code, t.c.role, t.c.key)
    write = t.update().where(
        t.c.party_code == sa.bindparam('_party'), t.c.role == sa.bindparam('_role'), t.c.key == sa.bindparam('_key')
    ).values(body=sa.bindparam('_body'))
    after = None
    while True:
        query = sa.select(*keys, t.c.body).order_by(*keys).limit(BATCH)
        if after is not None:
            query = query.where(sa.tuple_(*keys) > sa.tuple_(*after))
        rows = bind.execute(query).all()
        if not rows:
            return
        bind.execute(write, [{'_party': p, '_role': r, '_key': k, '_body': change(b)} for p, r, k, b in rows])
        after = tuple(rows[-1][:3])


def upgrade() -> None:
    _documents(payer_steps, 'step_id', 'request', seal_fields)
    _documents(outbox, 'id', 'payload', seal_fields)
    _answers(encrypt)


def downgrade() -> None:
    _documents(payer_steps, 'step_id', 'request', open_fields)
    _documents(outbox, 'id', 'payload', open_fields)
    _answers(decrypt)
