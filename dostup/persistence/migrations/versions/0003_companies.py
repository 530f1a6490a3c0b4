"""company profiles («Список компаний»)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

CONFIRMED = 'confirmed_at IS NOT NULL'


def upgrade() -> None:
    op.create_table('companies',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('inn', sa.String(length=12), nullable=True),
    sa.Column('kpp', sa.String(length=9), nullable=True),
    sa.Column('ogrn', sa.String(length=15), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_companies_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_companies'))
    )
    op.create_index(op.f('ix_companies_account_id'), 'companies', ['account_id'], unique=False)
    # One confirmed profile per INN and account; unconfirmed ones (the seed's "add again") are free.
    op.create_index('uq_companies_account_inn_confirmed', 'companies', ['account_id', 'inn'], unique=True,
                    sqlite_where=sa.text(CONFIRMED), postgresql_where=sa.text(CONFIRMED))


def downgrade() -> None:
    op.drop_index('uq_companies_account_inn_confirmed', table_name='companies')
    op.drop_index(op.f('ix_companies_account_id'), table_name='companies')
    op.drop_table('companies')
