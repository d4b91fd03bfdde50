"""statement lines: the payer-line key and payer reference are the primary key; the surrogate
id, its sequence and its index are gone (a third of a million-line import's writes).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 11:40:00.000000
"""
import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

KEY = ['payer_code', 'claim_id', 'line_no', 'payer_reference']


def upgrade() -> None:
    with op.batch_alter_table('statement_lines', schema=None) as batch_op:
        batch_op.drop_constraint('uq_statement_lines_payer_code_claim_id_line_no_payer_reference', type_='unique')
        batch_op.drop_constraint('pk_statement_lines', type_='primary')
        batch_op.drop_column('id')
        batch_op.create_primary_key('pk_statement_lines', KEY)


def downgrade() -> None:
    with op.batch_alter_table('statement_lines', schema=None) as batch_op:
        batch_op.drop_constraint('pk_statement_lines', type_='primary')
        batch_op.create_unique_constraint(
            batch_op.f('uq_statement_lines_payer_code_claim_id_line_no_payer_reference'), KEY
        )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE statement_lines ADD COLUMN id BIGSERIAL, ADD CONSTRAINT pk_statement_lines PRIMARY KEY (id)')
    else:
        with op.batch_alter_table('statement_lines', schema=None, recreate='always') as batch_op:
            batch_op.add_column(sa.Column('id', sa.Integer(), nullable=True))
            batch_op.create_primary_key('pk_statement_lines', ['id'])
