"""dated routes: a district's tier-1 administrator is a version from a Beijing date (a tender
changes hands on a date; a change is a new version, the history kept); the routes recorded
before versions were kept take effect from the start (0001-01-01), since they routed every
claim so far, whatever its service period

Revision ID: 0031
Revises: 0029
Create Date: 2026-12-07 06:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0031'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('district_routes', schema=None, recreate='always') as batch_op:
        batch_op.add_column(
            sa.Column('effective_from', sa.Date(), nullable=False, server_default='0001-01-01')
        )
        batch_op.alter_column('administrator_code', existing_type=sa.String(length=64), nullable=True)
        batch_op.drop_constraint('pk_district_routes', type_='primary')
        batch_op.create_primary_key(
            'pk_district_routes', ['payer_code', 'district', 'effective_from']
        )
    with op.batch_alter_table('district_routes', schema=None) as batch_op:
        batch_op.alter_column('effective_from', existing_type=sa.Date(), server_default=None)


def downgrade() -> None:
    # back to one row a district: its latest version (a district whose latest routes to no one goes)
    bind = op.get_bind()
    bind.execute(sa.text(
        "DELETE FROM district_routes WHERE administrator_code IS NULL"
        " OR effective_from < (SELECT MAX(v.effective_from) FROM district_routes v"
        " WHERE v.payer_code = district_routes.payer_code AND v.district = district_routes.district)"
    ))
    with op.batch_alter_table('district_routes', schema=None, recreate='always') as batch_op:
        batch_op.drop_constraint('pk_district_routes', type_='primary')
        batch_op.create_primary_key('pk_district_routes', ['payer_code', 'district'])
        batch_op.alter_column('administrator_code', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column('effective_from')
