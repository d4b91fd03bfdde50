"""personal keys: an API key may be issued to a named member of staff (api_keys.person), so that
four-eyes compares people on the API and the command line as it does in the console

Revision ID: 0033
Revises: 0031
Create Date: 2026-12-07 06:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0033'
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_api_keys_person'), ['person'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_api_keys_person_staff_accounts'), 'staff_accounts', ['person'], ['username']
        )


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_keys_person_staff_accounts'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_keys_person'))
        batch_op.drop_column('person')
