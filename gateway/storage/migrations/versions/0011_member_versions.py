"""party boundaries: assessment agencies designated by the bureau; member identity versions (name
and address, encrypted, with who and when) and the version each assessment recorded

Existing members get version 1 from their current row (recorded by "gateway", before versioning),
and their assessments cite it: claims route as they did before the upgrade.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 23:30:00.000000
"""
from alembic import op
import sqlalchemy as sa

from gateway.storage.personal import encrypt


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assessment_agencies',
    sa.Column('agency_code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('designated_from', sa.Date(), nullable=False),
    sa.Column('designated_to', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('agency_code', name=op.f('pk_assessment_agencies'))
    )
    op.create_table('member_versions',
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name_enc', sa.Text(), nullable=False),
    sa.Column('address_text_enc', sa.Text(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('district', sa.String(length=6), nullable=True),
    sa.Column('party_code', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.member_id'], name=op.f('fk_member_versions_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', 'version', name=op.f('pk_member_versions'))
    )
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_version', sa.Integer(), nullable=True))

    members = sa.table(
        'members',
        sa.column('member_id', sa.Uuid()),
        sa.column('name_enc', sa.Text()),
        sa.column('address_text', sa.String()),
        sa.column('lat', sa.Float()),
        sa.column('lon', sa.Float()),
        sa.column('district', sa.String()),
        sa.column('updated_at', sa.DateTime(timezone=True)),
    )
    versions = sa.table(
        'member_versions',
        sa.column('member_id', sa.Uuid()),
        sa.column('version', sa.Integer()),
        sa.column('name_enc', sa.Text()),
        sa.column('address_text_enc', sa.Text()),
        sa.column('lat', sa.Float()),
        sa.column('lon', sa.Float()),
        sa.column('district', sa.String()),
        sa.column('party_code', sa.String()),
        sa.column('key_id', sa.String()),
        sa.column('recorded_at', sa.DateTime(timezone=True)),
    )
    assessments = sa.table('assessments', sa.column('member_id', sa.Uuid()), sa.column('member_version', sa.Integer()))
    bind = op.get_bind()
    rows = bind.execute(sa.select(members).where(members.c.name_enc.is_not(None))).all()
    for row in rows:
        # the name is already sealed the same way; the address is sealed now
        bind.execute(versions.insert().values(
            member_id=row.member_id, version=1, name_enc=row.name_enc,
            address_text_enc=encrypt(row.address_text) if row.address_text is not None else None,
            lat=row.lat, lon=row.lon, district=row.district,
            party_code='gateway', key_id=None, recorded_at=row.updated_at,
        ))
        bind.execute(assessments.update().where(assessments.c.member_id == row.member_id).values(member_version=1))


def downgrade() -> None:
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.drop_column('member_version')
    op.drop_table('member_versions')
    op.drop_table('assessment_agencies')
