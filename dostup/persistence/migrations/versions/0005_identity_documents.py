"""accounts: SNILS (sign-in identifier), region of residence, deletion time of a tombstone

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 02:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('snils', sa.String(length=11), nullable=True))
        batch_op.add_column(sa.Column('region', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_accounts_snils'), ['snils'])


def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_accounts_snils'), type_='unique')
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('region')
        batch_op.drop_column('snils')
