"""reference hash index: the work queue's search by payer reference (an equality, the only use of
``ix_statement_lines_reference``) through a hash index on PostgreSQL instead of 0034's B-tree.

A statement's references arrive in no order the B-tree keeps: every line of a million-line import
descended the tree to a page of its own, and the index cost more than the table's other index and
its heap together. A hash index puts each key in its bucket with no descent: on 500,000 lines the
import's PostgreSQL CPU was 3.1 s with it, 3.7 s with the B-tree and 2.4 s with no index
(``python -m bench --only reference-index``). SQLite has no hash index and keeps the B-tree.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 23:00:00.000000
"""
from alembic import op


revision = '0038'
down_revision = '0037'
branch_labels = None
depends_on = None


def _rebuild(using: str) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.drop_index('ix_statement_lines_reference', table_name='statement_lines')
    op.create_index('ix_statement_lines_reference', 'statement_lines', ['payer_reference'], unique=False,
                    postgresql_using=using)


def upgrade() -> None:
    _rebuild('hash')


def downgrade() -> None:
    _rebuild('btree')
