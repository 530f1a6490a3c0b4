"""Spent challenges: a passkey sign-in's signed flow id, once answered, in a table of its own

A usernameless sign-in's options write nothing (``login/ceremony.py``: ``SignedFlows``); its
answer stored the id as a spent ``flows`` row — the table row and three index entries (primary
key, ``expires_at``, a NULL ``account_id``), four pages in every sign-in's commit.  The id alone
makes the challenge single-use: ``spent_challenges`` keys it, ``WITHOUT ROWID`` on SQLite (the
row lives in its primary key's b-tree: one page).  Issue 10 §7.

Revision ID: 0042
Revises: 0040
Create Date: 2026-12-04 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0042"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spent_challenges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spent_challenges")),
        sqlite_with_rowid=False,
    )
    # the ids answered before this revision stay spent (a signed id lives 5 minutes: a replay
    # across the upgrade must meet its row here); their flows rows go
    op.execute("INSERT INTO spent_challenges (id, expires_at) SELECT id, expires_at FROM flows WHERE id LIKE 'pk1.%'")
    op.execute("DELETE FROM flows WHERE id LIKE 'pk1.%'")


def downgrade() -> None:
    op.execute("INSERT INTO flows (id, kind, state, data, ip, created_at, updated_at, expires_at) "
               "SELECT id, 'login', 'done', '{\"method\": \"passkey\"}', NULL, expires_at, expires_at, expires_at "
               "FROM spent_challenges")
    op.drop_table("spent_challenges")
