"""Hot queries served in index order at a million customers (issue 13 §1)

* the security history and «История уведомлений» read a page by keyset on
  ``(account_id, created_at, id)`` instead of sorting every row of the account;
* the courier's claim reads due messages in ``(next_attempt_at, id)`` order from its index;
* a registration files the codes it sent under the new account by destination (``to``), not by
  walking every message that has no account yet;
* a flow's latest code is read in ``created_at`` order.

``tests/flows/test_query_plans.py`` explains every hot statement on both backends and fails on a
full scan or a sort under a LIMIT.

Revision ID: 0030
Revises: 0021
Create Date: 2026-12-03 14:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0030"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_security_events_account_time", "security_events", ["account_id", "created_at", "id"])
    op.drop_index("ix_security_events_account_id", table_name="security_events")
    op.create_index("ix_outbox_account_time", "outbox", ["account_id", "created_at", "id"])
    op.drop_index("ix_outbox_account_id", table_name="outbox")
    op.create_index("ix_outbox_to", "outbox", ["to", "created_at"])
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at", "id"])
    op.create_index("ix_codes_flow_time", "codes", ["flow_id", "created_at"])
    op.drop_index("ix_codes_flow_id", table_name="codes")


def downgrade() -> None:
    op.create_index("ix_codes_flow_id", "codes", ["flow_id"])
    op.drop_index("ix_codes_flow_time", table_name="codes")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.drop_index("ix_outbox_to", table_name="outbox")
    op.create_index("ix_outbox_account_id", "outbox", ["account_id"])
    op.drop_index("ix_outbox_account_time", table_name="outbox")
    op.create_index("ix_security_events_account_id", "security_events", ["account_id"])
    op.drop_index("ix_security_events_account_time", table_name="security_events")
