"""identity profiles: the passport sealed in one column

``identity_profiles.passport`` holds the five passport fields sealed (AES-256-GCM under a key derived for this
use; ``selfservice/verification/passport.py``).  A migration has no instance key, so the profiles saved before
keep their fields in the old columns, which are read as they are and emptied at the profile's next save.

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-04 20:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0051'
down_revision = '0050'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('identity_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('passport', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('identity_profiles', schema=None) as batch_op:
        batch_op.drop_column('passport')
