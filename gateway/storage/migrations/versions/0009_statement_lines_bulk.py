"""statement lines: one unique index that also serves key lookups, and no per-row foreign key
check, so that a statement of a million lines inserts in seconds; the work queue looked up by
key; a run's totals now come with its results (the "totals" phase is gone)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 09:20:00.000000
"""
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('statement_lines', schema=None) as batch_op:
        batch_op.drop_constraint('fk_statement_lines_statement_id_statements', type_='foreignkey')
        batch_op.drop_constraint('uq_statement_lines_payer_code_payer_reference_claim_id_line_no', type_='unique')
        batch_op.drop_index('ix_statement_lines_key')
        batch_op.create_unique_constraint(
            batch_op.f('uq_statement_lines_payer_code_claim_id_line_no_payer_reference'),
            ['payer_code', 'claim_id', 'line_no', 'payer_reference'],
        )
    with op.batch_alter_table('mismatches', schema=None) as batch_op:
        batch_op.create_index('ix_mismatches_key', ['payer_code', 'claim_id', 'line_no', 'kind'], unique=False)
    op.execute("UPDATE reconciliation_runs SET phase = 'results' WHERE phase = 'totals'")


def downgrade() -> None:
    with op.batch_alter_table('mismatches', schema=None) as batch_op:
        batch_op.drop_index('ix_mismatches_key')
    with op.batch_alter_table('statement_lines', schema=None) as batch_op:
        batch_op.drop_constraint('uq_statement_lines_payer_code_claim_id_line_no_payer_reference', type_='unique')
        batch_op.create_index('ix_statement_lines_key', ['payer_code', 'claim_id', 'line_no'], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f('uq_statement_lines_payer_code_payer_reference_claim_id_line_no'),
            ['payer_code', 'payer_reference', 'claim_id', 'line_no'],
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_statement_lines_statement_id_statements'), 'statements', ['statement_id'], ['id']
        )
