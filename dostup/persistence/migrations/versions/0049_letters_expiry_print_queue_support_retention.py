"""registered letters: their expiry and the print queue as columns; support requests: closed ones by time

The print queue of registered letters (``admin/letters.py``) read every waiting letter and dropped the
printed and the expired ones in Python (the expiry lived in the JSON ``data``): now one bounded keyset query
on ``queued_at`` (set while a letter waits to be printed) with ``expires_at`` compared in SQL, and
housekeeping ends the expired letters through ``(state, expires_at)``.  Existing letters get both from
their JSON here.  Housekeeping deletes closed support requests past their retention through
``(state, closed_at)``.

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-04 18:30:40
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0049'
down_revision = '0048'
branch_labels = None
depends_on = None

_requests = sa.table('verification_requests', sa.column('id', sa.String), sa.column('state', sa.String),
                     sa.column('verifier', sa.String), sa.column('data', sa.JSON),
                     sa.column('created_at', sa.DateTime), sa.column('expires_at', sa.DateTime),
                     sa.column('queued_at', sa.DateTime))


def upgrade() -> None:
    with op.batch_alter_table('support_requests', schema=None) as batch_op:
        batch_op.create_index('ix_support_requests_closed', ['state', 'closed_at'], unique=False)

    with op.batch_alter_table('verification_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('queued_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_verification_requests_expiry', ['state', 'expires_at'], unique=False)
        batch_op.create_index('ix_verification_requests_print_queue', ['queued_at', 'id', 'expires_at'], unique=False)

    # the letters written before: their expiry from the JSON, and in the queue while not printed nor ended
    conn = op.get_bind()
    r = _requests.c
    for row in conn.execute(sa.select(r.id, r.state, r.data, r.created_at).where(r.verifier == 'letter')).all():
        data = row.data if isinstance(row.data, dict) else {}
        expires = dt.datetime.fromisoformat(str(data['expires_at'])) if data.get('expires_at') else row.created_at
        waiting = row.state == 'submitted' and bool(data.get('code_sealed')) and not data.get('printed_at')
        conn.execute(sa.update(_requests).where(r.id == row.id)
                     .values(expires_at=expires, queued_at=row.created_at if waiting else None))


def downgrade() -> None:
    with op.batch_alter_table('verification_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_requests_print_queue')
        batch_op.drop_index('ix_verification_requests_expiry')
        batch_op.drop_column('queued_at')
        batch_op.drop_column('expires_at')

    with op.batch_alter_table('support_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_support_requests_closed')
