"""verification requests: an answered or cancelled profile check keeps no copy of the person

From now on a check's ``data`` (the full profile: passport, birth, SNILS) is replaced by a keyed digest once
the verifier answers, and emptied when the request is cancelled; the profile's ``checked`` holds the digest
too (``selfservice/verification/service.py: checked_digest``).  The rows written before kept the plain copy:
here they lose it.  A migration has no instance key, so no digest can be made for them — what was checked
then stays only in the answer, the verifier and the time.  Letters (their address and code hash, still
needed) and the bank's records (no person in them) are left as they are.

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-04 19:58:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0050'
down_revision = '0049'
branch_labels = None
depends_on = None

_requests = sa.table("verification_requests", sa.column("state", sa.String), sa.column("verifier", sa.String),
                     sa.column("data", sa.JSON))
_profiles = sa.table("identity_profiles", sa.column("checked", sa.JSON))


def upgrade() -> None:
    op.execute(_requests.update().where(_requests.c.state != "submitted",
                                        _requests.c.verifier.in_(("operator", "registry"))).values(data={}))
    op.execute(_profiles.update().where(_profiles.c.checked.is_not(None)).values(checked=None))


def downgrade() -> None:
    pass  # the copies are gone, as intended
