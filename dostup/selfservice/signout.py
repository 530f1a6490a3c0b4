"""«Выйти»: end the session and record it in the security history (ASVS 3.3.1: logout invalidates the session).

One use-case for the page form and ``POST /api/v1/logout``, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from dostup.accounts.events import record_event
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.persistence.db import Database
from dostup.session.service import SessionService


class SignOut:
    """``also``: told the token of each session that ends here (the OpenID Connect provider signs its
    partners out, OIDC Back-Channel Logout), before the event is recorded."""

    def __init__(self, db: Database, sessions: SessionService, clock: Clock,
                 also: Sequence[Callable[[str], Awaitable[None]]] = ()) -> None:
        self.db = db
        self.sessions = sessions
        self.clock = clock
        self.also = also

    async def __call__(self, token: str | None, ctx: Context) -> str | None:
        """End the session behind ``token``; the account it belonged to, or None if there was none."""
        account_id = await self.sessions.revoke_token(token) if token else None
        if account_id:
            for tell in self.also:
                await tell(token or "")
            async with self.db.write() as s:
                record_event(s, kind="logout", outcome="success", ctx=ctx, now=self.clock.now(),
                             account_id=account_id)
        return account_id
