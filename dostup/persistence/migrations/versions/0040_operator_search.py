"""Operator search: the audit trail of operator actions, and companies found by INN

* ``operator_actions``: who, when, why and what an operator looked up (SPEC §4.14);
* ``ix_companies_inn``: an operator's search by INN reads one index range, not every company.

Revision ID: 0040
Revises: 0030
Create Date: 2026-12-04 03:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_actions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("operator_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_operator_actions_operator_time", "operator_actions", ["operator_id", "created_at"])
    op.create_index("ix_companies_inn", "companies", ["inn"])


def downgrade() -> None:
    op.drop_index("ix_companies_inn", table_name="companies")
    op.drop_index("ix_operator_actions_operator_time", table_name="operator_actions")
    op.drop_table("operator_actions")
