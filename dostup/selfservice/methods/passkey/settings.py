"""«Вход по отпечатку» in settings: add a passkey, list, rename, delete.

Adding and deleting are sensitive (SECURITY.md: 15 minutes since the last proof, as for other
sign-in methods); adding is a registration ceremony (WebAuthn §7.1) whose challenge is kept in a
flow bound to the session (5 minutes, single-use), and it tells the user's contacts (a stolen
session must not add a way in unnoticed — as ``password_changed`` does for the password).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from dostup.accounts.events import record_event
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.crypto import Keyring
from dostup.core.errors import Conflict, DostupError, NotFound, ValidationFailed
from dostup.core.i18n import Catalog
from dostup.courier.outbox import Outbox
from dostup.credentials import passkeys as pk
from dostup.identity import repository as accounts
from dostup.persistence.db import Adds, Database, Raw
from dostup.persistence.models import Account
from dostup.selfservice.login import ceremony as ceremonies
from dostup.selfservice.login.ceremony import Pending, Started
from dostup.selfservice.methods.passkey import store
from dostup.selfservice.notices import notice_destination
from dostup.selfservice.reauth import ReauthService
from dostup.session.reader import SessionRecord

KIND = "passkey_add"
NAME_MAX = 64
LIMIT = 20  # passkeys per account: plenty for phones, laptops and keys, and a bound on the list


class PasskeysOff(NotFound):
    code = "passkeys_off"
    message_id = "passkeys.off"


class PasskeyTaken(Conflict):
    code = "passkey_taken"
    message_id = "passkeys.taken"


@dataclass(frozen=True, slots=True)
class PasskeyView:
    id: str
    name: str
    created_at: UtcTime
    last_used_at: UtcTime | None
    device_type: str  # single_device | multi_device (synced)
    attachment: str | None  # platform | cross-platform | unknown


def _name(value: str | None) -> str:
    name = " ".join((value or "").split())
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise ValidationFailed("passkeys.name_invalid", field="name", params={"max": NAME_MAX})
    return name


class PasskeySettings:
    def __init__(self, *, db: Database, clock: Clock, keyring: Keyring, outbox: Outbox, catalog: Catalog, wake_courier: Callable[[], None], sms_countries: Sequence[str], reauth: ReauthService, rp: pk.RelyingParty | None) -> None:
        self._db = db
        self._clock = clock
        self._keyring = keyring
        self._outbox = outbox
        self._catalog = catalog
        self._wake_courier = wake_courier
        self._sms_countries = sms_countries
        self._reauth = reauth
        self.rp = rp

    def _rp(self) -> pk.RelyingParty:
        if self.rp is None:
            raise PasskeysOff()
        return self.rp

    async def list(self, account_id: str) -> list[PasskeyView]:
        async with self._db.read() as s:
            rows = await store.of_account(s, account_id)
        return [PasskeyView(r.id, r.name or "", r.created_at, r.last_used_at, str(r.config.get("device_type", "")),
                            r.config.get("attachment") or None)  # type: ignore[arg-type]
                for r in rows]

    async def begin_add(self, rec: SessionRecord, ctx: Context) -> Pending:
        """Creation options for a new discoverable passkey (re-authentication within 15 minutes)."""
        rp = self._rp()
        await self._reauth.require_recent(rec)
        async with self._db.read() as s:
            account = await accounts.by_id(s, rec.account_id)
            existing = await store.ids_of(s, rec.account_id)
        assert account is not None
        if len(existing) >= LIMIT:
            raise ValidationFailed("passkeys.too_many", params={"max": LIMIT})
        label = account.login or account.email or account.phone or account.id
        display = " ".join(p for p in (account.given_name, account.family_name) if p) or label
        options, challenge = pk.registration_options(rp, pk.user_handle(self._keyring, account.id), label, display,
                                                     existing)
        async with self._db.append() as batch:
            return ceremonies.persist(batch, kind=KIND, method=pk.TYPE, now=self._clock.now(), ip=ctx.ip,
                                      started=Started(options, {"challenge": pk.b64url(challenge)}),
                                      account_id=rec.account_id, bound={"session": rec.id})

    async def finish_add(self, rec: SessionRecord, flow_id: str | None, answer: object, name: str | None,
                         ctx: Context) -> PasskeyView:
        """Verify the authenticator's answer and keep the passkey; its challenge is spent whatever
        the outcome, and a refusal writes nothing else."""
        rp = self._rp()
        await self._reauth.require_recent(rec)
        now = self._clock.now()
        label = _name(name) if name and name.strip() else self._catalog.text(
            "passkeys.default_name", ctx.locale, date=now.strftime("%d.%m.%Y"))

        def job(raw: Raw) -> PasskeyView | DostupError:
            conn, batch = raw.core, raw
            flow = ceremonies.spend(raw, flow_id, kind=KIND, now=now)
            if flow.data.get("session") != rec.id or flow.account_id != rec.account_id:
                raise NotFound("flow.not_found")
            try:
                new = pk.verify_registration(rp, pk.parse_response(answer),
                                             pk.unb64url(str(ceremonies.state_of(flow)["challenge"])))
                if store.taken(conn, new.credential_id):
                    raise PasskeyTaken()
            except DostupError as exc:
                record_event(batch, kind="passkey_added", outcome="failure", ctx=ctx, now=now,
                             account_id=rec.account_id, reason=exc.code)
                return exc
            row = store.add(batch, rec.account_id, new, label, now)
            record_event(batch, kind="passkey_added", outcome="success", ctx=ctx, now=now,
                         account_id=rec.account_id, passkey=row.id, name=label)
            self._notify(conn, batch, rec.account_id, label, ctx, now)
            return PasskeyView(row.id, label, now, None, str(new.config["device_type"]),
                               new.config.get("attachment") or None)  # type: ignore[arg-type]

        outcome = await self._db.run_raw(job)
        if isinstance(outcome, DostupError):
            raise outcome
        self._wake_courier()
        return outcome

    def _notify(self, conn: Connection, batch: Adds, account_id: str, name: str, ctx: Context,
                now: dt.datetime) -> None:
        """«Добавлен ключ входа» to the confirmed phone (or email), as for a changed password."""
        row = conn.execute(select(Account.__table__).where(Account.__table__.c.id == account_id)).first()
        account = Account(**row._mapping) if row is not None else None
        dest = notice_destination(account, self._sms_countries) if account else None
        if account is not None and dest:
            self._outbox.enqueue(batch, kind="passkey_added", channel=dest[0], to=dest[1], now=now,
                                  locale=account.locale or ctx.locale, account_id=account.id, params={"name": name})

    async def rename(self, rec: SessionRecord, passkey_id: str, name: str | None, ctx: Context) -> None:
        label = _name(name)
        now = self._clock.now()
        async with self._db.write() as s:
            if not await store.rename(s, rec.account_id, passkey_id, label, now):
                raise NotFound("passkeys.not_found")
            record_event(s, kind="passkey_renamed", outcome="success", ctx=ctx, now=now, account_id=rec.account_id,
                         passkey=passkey_id)

    async def remove(self, rec: SessionRecord, passkey_id: str, ctx: Context) -> None:
        await self._reauth.require_recent(rec)
        now = self._clock.now()
        async with self._db.write() as s:
            if not await store.remove(s, rec.account_id, passkey_id):
                raise NotFound("passkeys.not_found")
            record_event(s, kind="passkey_removed", outcome="success", ctx=ctx, now=now, account_id=rec.account_id,
                         passkey=passkey_id)
