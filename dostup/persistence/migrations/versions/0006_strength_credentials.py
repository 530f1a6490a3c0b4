"""sessions carry aal/amr/restrictions instead of a state; flows ask for a level; credentials table

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('aal', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('amr', sa.String(length=64), nullable=False, server_default='pwd'))
        batch_op.add_column(sa.Column('restrictions', sa.String(length=64), nullable=False, server_default=''))
    op.execute("UPDATE sessions SET restrictions = 'password_change' WHERE state = 'password_change'")
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('state')
    with op.batch_alter_table('flows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_aal', sa.Integer(), nullable=True))
    op.create_table(
        'credentials',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('account_id', sa.String(length=32), nullable=False),
        sa.Column('type', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=True),
        sa.Column('config', sa.JSON(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('last_used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_credentials_account_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials')),
    )
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credentials_account_id'), ['account_id'], unique=False)
    op.create_table(
        'credential_identifiers',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('credential_id', sa.String(length=32), nullable=False),
        sa.Column('type', sa.String(length=32), nullable=False),
        sa.Column('identifier', sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(['credential_id'], ['credentials.id'],
                                name=op.f('fk_credential_identifiers_credential_id_credentials'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credential_identifiers')),
        sa.UniqueConstraint('type', 'identifier', name=op.f('uq_credential_identifiers_type')),
    )
    with op.batch_alter_table('credential_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credential_identifiers_credential_id'), ['credential_id'], unique=False)


def downgrade() -> None:
    op.drop_table('credential_identifiers')
    op.drop_table('credentials')
    with op.batch_alter_table('flows', schema=None) as batch_op:
        batch_op.drop_column('requested_aal')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=24), nullable=False, server_default='active'))
    op.execute("UPDATE sessions SET state = 'password_change' WHERE restrictions LIKE '%password_change%'")
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('restrictions')
        batch_op.drop_column('amr')
        batch_op.drop_column('aal')
