"""Housekeeping: an index for each of its deletes

``dostup.persistence.housekeeping`` deletes rows some time after they expired, a batch at a time,
each batch found through an index on the time it deletes by.  ``flows`` and ``counters`` had
theirs (``expires_at``); ``codes``, ``sessions``, ``oidc_codes`` and ``oidc_tokens`` get one on
``expires_at``, and ``sessions`` a partial one on ``revoked_at`` (revoked sessions only, so a
sign-in's new row adds no entry to it).  ``tests/flows/test_query_plans.py`` explains every
delete on both databases.

On a large PostgreSQL database each ``CREATE INDEX`` holds writes to its table while it is built;
an operator may build them first with ``CREATE INDEX CONCURRENTLY`` under the same names (this
revision then only has to be stamped past, ``alembic stamp 0044``).

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-04 08:33:34
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None

_REVOKED = sa.text("revoked_at IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_codes_expires_at", "codes", ["expires_at"])
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    op.create_index("ix_sessions_revoked_at", "sessions", ["revoked_at"], sqlite_where=_REVOKED,
                    postgresql_where=_REVOKED)
    op.create_index("ix_oidc_codes_expires_at", "oidc_codes", ["expires_at"])
    op.create_index("ix_oidc_tokens_expires_at", "oidc_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_tokens_expires_at", table_name="oidc_tokens")
    op.drop_index("ix_oidc_codes_expires_at", table_name="oidc_codes")
    op.drop_index("ix_sessions_revoked_at", table_name="sessions")
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_index("ix_codes_expires_at", table_name="codes")
