"""«Способы входа» in settings: which providers are linked, «Привязать {name}» (the round trip in
``service``, after re-authentication) and «Отвязать {name}» while another way in remains."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import Conflict, NotFound
from dostup.courier.outbox import Outbox
from dostup.federation.providers import Provider
from dostup.persistence.db import Database
from dostup.persistence.models import Account
from dostup.selfservice.methods.social import store
from dostup.selfservice.methods.social.notices import event, notify
from dostup.selfservice.reauth import ReauthService
from dostup.session.reader import SessionRecord


class LastWayIn(Conflict):
    code = "last_sign_in_method"
    message_id = "social.last_method"


@dataclass(frozen=True, slots=True)
class MethodView:
    provider: str
    name: str
    icon: str
    linked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Methods:
    has_password: bool
    providers: list[MethodView]


class SocialSettings:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        providers: Sequence[Provider],
        reauth: ReauthService,
        outbox: Outbox,
        sms_countries: Sequence[str],
        wake_courier: Callable[[], None],
    ) -> None:
        self._db = db
        self._clock = clock
        self._providers = {p.id: p for p in providers}
        self._reauth = reauth
        self._outbox = outbox
        self._sms_countries = sms_countries
        self._wake = wake_courier

    async def methods(self, account_id: str) -> Methods:
        async with self._db.read() as s:
            account = await s.get(Account, account_id)
            links = {c.name: c.created_at for c in await store.of_account(s, account_id)}
        assert account is not None
        return Methods(
            bool(account.password_hash),
            [MethodView(p.id, p.name, p.icon, links.get(p.id)) for p in self._providers.values()],
        )

    async def linked(self, account_id: str) -> list[Provider]:
        """The configured providers this account can re-authenticate with."""
        async with self._db.read() as s:
            names = {c.name for c in await store.of_account(s, account_id)}
        return [p for p in self._providers.values() if p.id in names]

    async def unlink(self, rec: SessionRecord, provider_id: str, ctx: Context) -> None:
        """«Отвязать {name}»: after re-authentication, and never the last way into the account."""
        provider = self._providers.get(provider_id)
        if provider is None:
            raise NotFound("social.provider_unknown")
        await self._reauth.require_recent(rec)
        now = self._clock.now()
        async with self._db.write() as s:
            account = await s.get(Account, rec.account_id)
            row = next((c for c in await store.of_account(s, rec.account_id) if c.name == provider.id), None)
            if account is None or row is None:
                raise NotFound("social.not_linked", params={"name": provider.name})
            if await store.other_ways_in(s, account, row.id) == 0:
                raise LastWayIn(params={"name": provider.name})
            await store.remove(s, row)
            event(s, "social_unlinked", "success", ctx, now, rec.account_id, provider.id)
            notify(s, self._outbox, self._sms_countries, account, "social_unlinked", provider.name, ctx, now)
        self._wake()
