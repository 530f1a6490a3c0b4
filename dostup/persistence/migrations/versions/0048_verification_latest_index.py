"""verification requests: the account's latest one read from its index, ties broken by id

``levels.latest_verification`` orders by ``created_at DESC, id DESC``; with the index on
``(account_id, created_at)`` alone SQLite sorted the account's requests in a temporary b-tree
(tests/flows/test_query_plans.py, with levels on).

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-04 17:40:00
"""

from __future__ import annotations

from alembic import op

revision = '0048'
down_revision = '0047'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('verification_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_requests_account_time')
        batch_op.create_index('ix_verification_requests_account_time', ['account_id', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('verification_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_requests_account_time')
        batch_op.create_index('ix_verification_requests_account_time', ['account_id', 'created_at'], unique=False)
