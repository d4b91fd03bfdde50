"""personal data encrypted at rest: members' ID number and name, with a keyed look-up hash

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 01:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

from gateway.storage.personal import encrypt, lookup_hash


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('id_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('id_number_enc', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('name_enc', sa.Text(), nullable=True))
    members = sa.table(
        'members',
        sa.column('member_id', sa.Uuid()),
        sa.column('id_number', sa.String()),
        sa.column('name', sa.String()),
        sa.column('id_hash', sa.String()),
        sa.column('id_number_enc', sa.Text()),
        sa.column('name_enc', sa.Text()),
    )
    bind = op.get_bind()
    for member_id, id_number, name in bind.execute(sa.select(members.c.member_id, members.c.id_number, members.c.name)).all():
        bind.execute(
            members.update()
            .where(members.c.member_id == member_id)
            .values(
                id_hash=lookup_hash(id_number),
                id_number_enc=encrypt(id_number),
                name_enc=encrypt(name) if name is not None else None,
            )
        )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_members_id_number'), type_='unique')
        batch_op.drop_column('id_number')
        batch_op.drop_column('name')
        batch_op.alter_column('id_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('id_number_enc', existing_type=sa.Text(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_members_id_hash'), ['id_hash'])


def downgrade() -> None:
    raise NotImplementedError("personal data is not decrypted back into plain columns")
