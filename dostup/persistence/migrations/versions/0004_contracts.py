"""linked service contracts: the company's registry and the cabinet's links

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contract_registry',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('number_hash', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=True),
    sa.Column('display', sa.String(length=64), nullable=False),
    sa.Column('owner_phone', sa.String(length=20), nullable=True),
    sa.Column('secret_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_registry')),
    sa.UniqueConstraint('number_hash', name=op.f('uq_contract_registry_number_hash'))
    )
    op.create_table('contract_links',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('registry_key', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('display', sa.String(length=64), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_contract_links_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_links')),
    sa.UniqueConstraint('registry_key', name=op.f('uq_contract_links_registry_key'))
    )
    op.create_index(op.f('ix_contract_links_account_id'), 'contract_links', ['account_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_contract_links_account_id'), table_name='contract_links')
    op.drop_table('contract_links')
    op.drop_table('contract_registry')
