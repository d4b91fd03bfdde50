"""foundation

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 22:57:30.982208
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('api_keys',
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('party_code', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('members',
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=True),
    sa.Column('address_text', sa.String(length=200), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_members')),
    sa.UniqueConstraint('id_number', name=op.f('uq_members_id_number'))
    )
    op.create_table('payers',
    sa.Column('payer_code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('payer_code', name=op.f('pk_payers'))
    )
    op.create_table('providers',
    sa.Column('provider_code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('district', sa.String(length=6), nullable=False),
    sa.Column('designated', sa.Boolean(), nullable=False),
    sa.Column('designated_from', sa.Date(), nullable=True),
    sa.Column('designated_to', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('provider_code', name=op.f('pk_providers'))
    )
    op.create_table('assessments',
    sa.Column('assessment_id', sa.Uuid(), nullable=False),
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('agency_code', sa.String(length=64), nullable=False),
    sa.Column('concluded_on', sa.Date(), nullable=False),
    sa.Column('disabled_since', sa.Date(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('adl_score', sa.Integer(), nullable=False),
    sa.Column('adl_level', sa.String(length=16), nullable=False),
    sa.Column('cognition_score', sa.Integer(), nullable=False),
    sa.Column('cognition_level', sa.String(length=16), nullable=False),
    sa.Column('perception_score', sa.Integer(), nullable=False),
    sa.Column('perception_level', sa.String(length=16), nullable=False),
    sa.Column('grade', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('request_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.member_id'], name=op.f('fk_assessments_member_id_members')),
    sa.PrimaryKeyConstraint('assessment_id', name=op.f('pk_assessments')),
    sa.UniqueConstraint('member_id', 'agency_code', 'concluded_on', name=op.f('uq_assessments_member_id_agency_code_concluded_on'))
    )
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessments_member_id'), ['member_id'], unique=False)

    op.create_table('products',
    sa.Column('product_code', sa.String(length=64), nullable=False),
    sa.Column('payer_code', sa.String(length=64), nullable=False),
    sa.Column('tier', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['payer_code'], ['payers.payer_code'], name=op.f('fk_products_payer_code_payers')),
    sa.PrimaryKeyConstraint('product_code', name=op.f('pk_products'))
    )
    op.create_table('claims',
    sa.Column('claim_id', sa.Uuid(), nullable=False),
    sa.Column('provider_code', sa.String(length=64), nullable=False),
    sa.Column('claim_number', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('assessment_id', sa.Uuid(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('billed_fen', sa.BigInteger(), nullable=False),
    sa.Column('member_responsibility_fen', sa.BigInteger(), nullable=True),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('request_digest', sa.String(length=64), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('coordinated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessments.assessment_id'], name=op.f('fk_claims_assessment_id_assessments')),
    sa.ForeignKeyConstraint(['member_id'], ['members.member_id'], name=op.f('fk_claims_member_id_members')),
    sa.ForeignKeyConstraint(['provider_code'], ['providers.provider_code'], name=op.f('fk_claims_provider_code_providers')),
    sa.PrimaryKeyConstraint('claim_id', name=op.f('pk_claims')),
    sa.UniqueConstraint('provider_code', 'claim_number', name=op.f('uq_claims_provider_code_claim_number'))
    )
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claims_member_id'), ['member_id'], unique=False)
        batch_op.create_index('ix_claims_work', ['status', 'next_attempt_at'], unique=False)

    op.create_table('enrollments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('payer_code', sa.String(length=64), nullable=False),
    sa.Column('product_code', sa.String(length=64), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.member_id'], name=op.f('fk_enrollments_member_id_members')),
    sa.ForeignKeyConstraint(['payer_code'], ['payers.payer_code'], name=op.f('fk_enrollments_payer_code_payers')),
    sa.ForeignKeyConstraint(['product_code'], ['products.product_code'], name=op.f('fk_enrollments_product_code_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrollments')),
    sa.UniqueConstraint('member_id', 'product_code', 'start_date', name=op.f('uq_enrollments_member_id_product_code_start_date'))
    )
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrollments_member_id'), ['member_id'], unique=False)

    op.create_table('product_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('product_code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_code'], ['products.product_code'], name=op.f('fk_product_versions_product_code_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_versions')),
    sa.UniqueConstraint('product_code', 'version', name=op.f('uq_product_versions_product_code_version'))
    )
    op.create_table('claim_lines',
    sa.Column('claim_id', sa.Uuid(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('service_code', sa.String(length=32), nullable=False),
    sa.Column('setting', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.Column('service_end_date', sa.Date(), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('billed_fen', sa.BigInteger(), nullable=False),
    sa.Column('exclusion', sa.String(length=32), nullable=True),
    sa.Column('visit', sa.JSON(), nullable=True),
    sa.Column('caregiver_id', sa.String(length=64), nullable=True),
    sa.Column('check_in', sa.DateTime(timezone=True), nullable=True),
    sa.Column('check_out', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.claim_id'], name=op.f('fk_claim_lines_claim_id_claims')),
    sa.PrimaryKeyConstraint('claim_id', 'line_no', name=op.f('pk_claim_lines'))
    )
    with op.batch_alter_table('claim_lines', schema=None) as batch_op:
        batch_op.create_index('ix_claim_lines_caregiver', ['caregiver_id', 'check_in'], unique=False)

    op.create_table('fixed_benefits',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.Uuid(), nullable=False),
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('payer_code', sa.String(length=64), nullable=False),
    sa.Column('product_code', sa.String(length=64), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('payee', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.claim_id'], name=op.f('fk_fixed_benefits_claim_id_claims')),
    sa.ForeignKeyConstraint(['member_id'], ['members.member_id'], name=op.f('fk_fixed_benefits_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fixed_benefits')),
    sa.UniqueConstraint('member_id', 'product_code', 'month', name=op.f('uq_fixed_benefits_member_id_product_code_month'))
    )
    with op.batch_alter_table('fixed_benefits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fixed_benefits_claim_id'), ['claim_id'], unique=False)

    op.create_table('flags',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('claim_id', sa.Uuid(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=True),
    sa.Column('payer_code', sa.String(length=64), nullable=True),
    sa.Column('product_code', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.claim_id'], name=op.f('fk_flags_claim_id_claims')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flags'))
    )
    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flags_claim_id'), ['claim_id'], unique=False)

    op.create_table('line_payments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.Uuid(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('payer_code', sa.String(length=64), nullable=False),
    sa.Column('product_code', sa.String(length=64), nullable=False),
    sa.Column('period_month', sa.String(length=7), nullable=False),
    sa.Column('period_year', sa.Integer(), nullable=False),
    sa.Column('billed_fen', sa.BigInteger(), nullable=False),
    sa.Column('remaining_fen', sa.BigInteger(), nullable=False),
    sa.Column('standalone_fen', sa.BigInteger(), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('visit', sa.JSON(), nullable=True),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.claim_id'], name=op.f('fk_line_payments_claim_id_claims')),
    sa.ForeignKeyConstraint(['member_id'], ['members.member_id'], name=op.f('fk_line_payments_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_line_payments')),
    sa.UniqueConstraint('claim_id', 'round', 'seq', 'line_no', name=op.f('uq_line_payments_claim_id_round_seq_line_no'))
    )
    with op.batch_alter_table('line_payments', schema=None) as batch_op:
        batch_op.create_index('ix_line_payments_usage', ['member_id', 'product_code', 'period_month', 'current'], unique=False)

    op.create_table('payer_steps',
    sa.Column('step_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.Uuid(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('tier', sa.Integer(), nullable=False),
    sa.Column('payer_code', sa.String(length=64), nullable=False),
    sa.Column('administrator_code', sa.String(length=64), nullable=True),
    sa.Column('product_code', sa.String(length=64), nullable=False),
    sa.Column('product_version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('adjudication', sa.String(length=16), nullable=False),
    sa.Column('coverage_start', sa.Date(), nullable=False),
    sa.Column('coverage_end', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['administrator_code'], ['payers.payer_code'], name=op.f('fk_payer_steps_administrator_code_payers')),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.claim_id'], name=op.f('fk_payer_steps_claim_id_claims')),
    sa.ForeignKeyConstraint(['payer_code'], ['payers.payer_code'], name=op.f('fk_payer_steps_payer_code_payers')),
    sa.ForeignKeyConstraint(['product_code'], ['products.product_code'], name=op.f('fk_payer_steps_product_code_products')),
    sa.PrimaryKeyConstraint('step_id', name=op.f('pk_payer_steps')),
    sa.UniqueConstraint('claim_id', 'round', 'seq', name=op.f('uq_payer_steps_claim_id_round_seq')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_payer_steps_idempotency_key'))
    )
    with op.batch_alter_table('payer_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payer_steps_claim_id'), ['claim_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('payer_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payer_steps_claim_id'))

    op.drop_table('payer_steps')
    with op.batch_alter_table('line_payments', schema=None) as batch_op:
        batch_op.drop_index('ix_line_payments_usage')

    op.drop_table('line_payments')
    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flags_claim_id'))

    op.drop_table('flags')
    with op.batch_alter_table('fixed_benefits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fixed_benefits_claim_id'))

    op.drop_table('fixed_benefits')
    with op.batch_alter_table('claim_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_claim_lines_caregiver')

    op.drop_table('claim_lines')
    op.drop_table('product_versions')
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrollments_member_id'))

    op.drop_table('enrollments')
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index('ix_claims_work')
        batch_op.drop_index(batch_op.f('ix_claims_member_id'))

    op.drop_table('claims')
    op.drop_table('products')
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessments_member_id'))

    op.drop_table('assessments')
    op.drop_table('providers')
    op.drop_table('payers')
    op.drop_table('members')
    op.drop_table('api_keys')

