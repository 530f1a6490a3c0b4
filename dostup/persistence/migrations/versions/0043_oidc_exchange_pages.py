"""OpenID Connect code exchange: fewer pages in its commit (issue 12 §5)

An exchange writes a grant and an access token.  Their rows and index entries were eleven pages
of the SQLite commit (with the spent code's); now eight:

* ``oidc_grants``: the separate ``client_id`` and ``account_id`` indexes become one
  ``(client_id, account_id)`` index, which serves both of their queries (a partner's grants when it
  is removed; an account's with one partner when access is withdrawn);
* ``oidc_tokens``: the unique index on ``token_hash`` leaves out the NULLs (access tokens have no
  hash: every one of them was an entry in it), and on SQLite the table is ``WITHOUT ROWID`` (the
  row lives in its primary key's b-tree, not in a table b-tree beside it).

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-04 06:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

_HASHED = sa.text("token_hash IS NOT NULL")
_COLUMNS = "id, grant_id, kind, token_hash, scope, created_at, expires_at, used_at, revoked_at"


def _tokens_table(name: str, *, with_rowid: bool, unique_hash: bool) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["grant_id"], ["oidc_grants.id"], name="fk_oidc_tokens_grant_id_oidc_grants"),
        sa.PrimaryKeyConstraint("id", name="pk_oidc_tokens"),
        *([sa.UniqueConstraint("token_hash", name="uq_oidc_tokens_token_hash")] if unique_hash else []),
        sqlite_with_rowid=with_rowid,
    )


def _rebuild_tokens(*, with_rowid: bool, unique_hash: bool) -> None:
    """SQLite: the table made anew (its inline UNIQUE and its rowid cannot be altered), rows kept."""
    _tokens_table("_oidc_tokens_new", with_rowid=with_rowid, unique_hash=unique_hash)
    op.execute(f"INSERT INTO _oidc_tokens_new ({_COLUMNS}) SELECT {_COLUMNS} FROM oidc_tokens")  # noqa: S608
    op.drop_index("ix_oidc_tokens_grant_id", table_name="oidc_tokens")
    op.drop_table("oidc_tokens")
    op.rename_table("_oidc_tokens_new", "oidc_tokens")
    op.create_index("ix_oidc_tokens_grant_id", "oidc_tokens", ["grant_id"])


def upgrade() -> None:
    op.drop_index("ix_oidc_grants_client_id", table_name="oidc_grants")
    op.drop_index("ix_oidc_grants_account_id", table_name="oidc_grants")
    op.create_index("ix_oidc_grants_client_account", "oidc_grants", ["client_id", "account_id"])
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_tokens(with_rowid=False, unique_hash=False)
    else:
        op.drop_constraint("uq_oidc_tokens_token_hash", "oidc_tokens", type_="unique")
    op.create_index("uq_oidc_tokens_token_hash", "oidc_tokens", ["token_hash"], unique=True,
                    sqlite_where=_HASHED, postgresql_where=_HASHED)


def downgrade() -> None:
    op.drop_index("uq_oidc_tokens_token_hash", table_name="oidc_tokens")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_tokens(with_rowid=True, unique_hash=True)
    else:
        op.create_unique_constraint("uq_oidc_tokens_token_hash", "oidc_tokens", ["token_hash"])
    op.drop_index("ix_oidc_grants_client_account", table_name="oidc_grants")
    op.create_index("ix_oidc_grants_account_id", "oidc_grants", ["account_id"])
    op.create_index("ix_oidc_grants_client_id", "oidc_grants", ["client_id"])
