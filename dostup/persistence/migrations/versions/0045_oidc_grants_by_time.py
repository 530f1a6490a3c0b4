"""OIDC grants: written with their code, found by time for housekeeping

Since the grant is written with its code at the authorization, under the code's id, a replayed
code revokes the grant by its primary key: the index on ``code_id`` is no longer read (the column
stays, naming the code as before).  Housekeeping deletes a grant some hours after it was created,
once no token row is left and its session has ended (``dostup.persistence.housekeeping``):
an index on ``created_at`` finds them.  An authorization writes as many index entries as before.

Access tokens issued before this revision carry a ``jti`` without their grant and are refused
(``invalid_token``) from the upgrade on: they live 5 minutes (``DOSTUP_OIDC__ACCESS_TOKEN_SECONDS``);
a partner refreshes (its refresh tokens still work) or signs the user in again.

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-04 09:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_oidc_grants_code_id", table_name="oidc_grants")
    op.create_index("ix_oidc_grants_created_at", "oidc_grants", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_grants_created_at", table_name="oidc_grants")
    op.create_index("ix_oidc_grants_code_id", "oidc_grants", ["code_id"])
