"""identity profiles: an index of the passports still in clear

The profiles saved before 0051 keep their passport in the old columns until housekeeping seals them
(``persistence/reseal.py``; a migration has no instance key to seal with).  Its pass finds them through this
partial index, which holds only those profiles: empty once they are sealed (every save writes the old columns
empty), so a pass that finds nothing reads nothing rather than the whole table.

Revision ID: 0052
Revises: 0051
Create Date: 2026-12-04 21:24:04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0052'
down_revision = '0051'
branch_labels = None
depends_on = None

_CLEAR = sa.text('passport IS NULL AND passport_number IS NOT NULL')


def upgrade() -> None:
    with op.batch_alter_table('identity_profiles', schema=None) as batch_op:
        batch_op.create_index('ix_identity_profiles_passport_clear', ['passport_number'], unique=False,
                              sqlite_where=_CLEAR, postgresql_where=_CLEAR)


def downgrade() -> None:
    with op.batch_alter_table('identity_profiles', schema=None) as batch_op:
        batch_op.drop_index('ix_identity_profiles_passport_clear')
