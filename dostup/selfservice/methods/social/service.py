"""«Войти через {name}»: the round trip to the provider and what its answer does.

``start`` keeps the PKCE verifier and the nonce in a ceremony flow (``login.ceremony``: 5 minutes,
single-use; bound to the session for a link or a re-authentication) whose id is the ``state``;
``callback`` spends that flow first (a replayed or unknown ``state`` is refused before the
provider is asked), then lets the provider's answer

- ``login``: sign in to the linked account (its second factor is still asked), or — nothing
  linked — start a registration through the provider (``registration``), unless the provider
  verified an email or phone that belongs to another cabinet: then the user is told so and offered
  to sign in there and link (never linked by a matching claim).  An unverified claim is not looked
  up (the registration form then answers for it as for a typed one), and in enumeration-safe mode
  no claim is: every unlinked provider account gets the registration, whose taken contact is a
  decoy code step and a message to its owner (``RegistrationService.start_external``);
- ``link``: link it to the signed-in account (``settings``);
- ``reauth``: re-authenticate a session of the account it is linked to.

A refusal leaves the spent challenge and a failure event, nothing else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import AuthenticationFailed, Conflict, DostupError, NotFound, ValidationFailed
from dostup.core.masking import mask_email, mask_phone
from dostup.courier.outbox import Outbox
from dostup.federation.client import FederationClient, ProviderRefused, Secrets
from dostup.federation.providers import Identity, Provider
from dostup.identity.email import parse_email
from dostup.identity.phone import parse_phone
from dostup.persistence.db import Database, Raw
from dostup.persistence.models import Account
from dostup.selfservice.flows import new_flow
from dostup.selfservice.login import ceremony as ceremonies
from dostup.selfservice.login.ceremony import Started
from dostup.selfservice.login.flow import LoginOutcome
from dostup.selfservice.login.service import LoginService
from dostup.selfservice.methods.social import store
from dostup.selfservice.methods.social.notices import event, notify
from dostup.selfservice.reauth import ReauthService
from dostup.session.manage import rotate
from dostup.session.reader import SessionRecord
from dostup.session.service import IssuedSession, SessionService
from dostup.session.strength import FEDERATED

KIND = "social"
SIGNUP = "social_signup"
SIGNUP_TTL_SECONDS = 1800
PURPOSES = ("login", "link", "reauth")


class UnknownProvider(NotFound):
    code = "provider_unknown"
    message_id = "social.provider_unknown"


class SocialDenied(AuthenticationFailed):
    """The user pressed «Отказать» (``error=access_denied``) at the provider."""

    code = "access_denied"
    message_id = "social.denied"


class AddressTaken(Conflict):
    code = "address_taken"
    message_id = "social.address_taken"


class LinkedElsewhere(Conflict):
    code = "linked_elsewhere"
    message_id = "social.linked_elsewhere"


class AlreadyLinked(Conflict):
    code = "already_linked"
    message_id = "social.already_linked"


class NotLinkedHere(AuthenticationFailed):
    code = "not_linked"
    message_id = "social.not_linked_here"


@dataclass(frozen=True, slots=True)
class Redirect:
    """Where to send the browser (or app) to sign in at the provider."""

    flow_id: str
    url: str


@dataclass(frozen=True, slots=True)
class SignupNeeded:
    flow_id: str
    provider: str


@dataclass(frozen=True, slots=True)
class Linked:
    provider: str


@dataclass(frozen=True, slots=True)
class Reauthenticated:
    session: IssuedSession


@dataclass(frozen=True, slots=True)
class Answered:
    """What the provider's answer did, and where the user was going (``return_to`` of the start)."""

    result: LoginOutcome | SignupNeeded | Linked | Reauthenticated
    return_to: str | None


class SocialSignIn:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        client: FederationClient,
        public_url: str,
        login: LoginService,
        reauth: ReauthService,
        sessions: SessionService,
        outbox: Outbox,
        sms_countries: Sequence[str],
        wake_courier: Callable[[], None],
        enumeration_safe: bool,
    ) -> None:
        self._db = db
        self._clock = clock
        self.client = client
        self._public_url = public_url
        self._login = login
        self._reauth = reauth
        self._sessions = sessions
        self._outbox = outbox
        self._sms_countries = sms_countries
        self._wake = wake_courier
        self._enumeration_safe = enumeration_safe

    @property
    def providers(self) -> list[Provider]:
        """The providers of «Войти через …» (not a bank configured only to confirm identity)."""
        return [p for p in self.client.providers.values() if p.sign_in]

    def provider(self, provider_id: str) -> Provider:
        found = self.client.providers.get(provider_id)
        if found is None or not found.sign_in:
            raise UnknownProvider()
        return found

    def form_targets(self) -> tuple[str, ...]:
        """The origins «Войти через …» and «Подтвердить личность через …» forms redirect to (the pages' CSP
        ``form-action``)."""
        origins = []
        for p in self.client.providers.values():
            for url in (p.authorization_endpoint, p.issuer):
                parts = urlsplit(url)
                if parts.scheme in ("http", "https") and parts.netloc and not any(c in parts.netloc for c in " ;,'\""):
                    origins.append(f"{parts.scheme}://{parts.netloc}")
        return tuple(dict.fromkeys(origins))

    def callback_url(self, provider: Provider) -> str:
        return f"{self._public_url}/social/{provider.id}/callback"

    # -- start ---------------------------------------------------------------------------------

    async def start(
        self,
        provider_id: str,
        purpose: str,
        ctx: Context,
        rec: SessionRecord | None = None,
        return_to: str | None = None,
        remember: bool = False,
    ) -> Redirect:
        provider = self.provider(provider_id)
        if purpose not in PURPOSES:
            raise ValidationFailed("social.purpose_invalid", field="purpose")
        if purpose != "login" and rec is None:
            raise NotFound("flow.not_found")
        if purpose == "link" and rec is not None:
            await self._reauth.require_recent(rec)
        await self._login.count_ceremony(ctx)
        await self.client.endpoints(provider)  # discovery first: a provider that is down leaves no flow behind
        secrets = Secrets.new()
        async with self._db.append() as batch:
            pending = ceremonies.persist(
                batch,
                kind=KIND,
                method=KIND,
                started=Started({}, dict(secrets)),
                now=self._clock.now(),
                ip=ctx.ip,
                account_id=rec.account_id if rec and purpose != "login" else None,
                bound={
                    "provider": provider.id,
                    "purpose": purpose,
                    "session": rec.id if rec and purpose != "login" else None,
                    "return_to": return_to,
                    "remember": remember,
                },
            )
        url = await self.client.authorization_url(provider, pending.flow_id, secrets, self.callback_url(provider))
        return Redirect(pending.flow_id, url)

    # -- callback ------------------------------------------------------------------------------

    async def callback(
        self,
        provider_id: str,
        state: str | None,
        code: str | None,
        error: str | None,
        ctx: Context,
        rec: SessionRecord | None = None,
        device_id: str | None = None,
    ) -> Answered:
        provider = self.provider(provider_id)
        now = self._clock.now()

        def spend(raw: Raw) -> ceremonies.Spent:
            return ceremonies.spend(raw, state, kind=KIND, now=now)

        flow = await self._db.run_raw(spend)  # a replayed or unknown state stops here
        purpose = str(flow.data.get("purpose"))
        if flow.data.get("provider") != provider.id:
            raise NotFound("flow.not_found")
        if purpose != "login" and (rec is None or flow.data.get("session") != rec.id):
            raise NotFound("flow.not_found")
        account_id = flow.account_id
        try:
            if error:
                raise (
                    SocialDenied(params={"name": provider.name})
                    if error == "access_denied"
                    else ProviderRefused(params={"name": provider.name})
                )
            if not code or len(code) > 2048:
                raise ProviderRefused(params={"name": provider.name})
            secrets = Secrets(ceremonies.state_of(flow))  # type: ignore[arg-type]
            identity = _normalised(
                await self.client.identity(provider, code, secrets, self.callback_url(provider), device_id)
            )
        except DostupError as exc:
            await self._failed(purpose, provider, account_id, exc, ctx)
            raise
        return_to = flow.data.get("return_to")
        target = str(return_to) if return_to else None
        try:
            if purpose == "link":
                assert rec is not None
                return Answered(await self._link(rec, provider, identity, ctx), target)
            if purpose == "reauth":
                assert rec is not None
                return Answered(await self._reauthenticate(rec, provider, identity, ctx), target)
            return Answered(
                await self._sign_in(provider, identity, bool(flow.data.get("remember")), ctx, target), target
            )
        except DostupError as exc:
            await self._failed(purpose, provider, account_id, exc, ctx)
            raise

    async def _failed(
        self, purpose: str, provider: Provider, account_id: str | None, exc: DostupError, ctx: Context
    ) -> None:
        kind = {"login": "login", "link": "social_linked", "reauth": "reauth"}[purpose]
        async with self._db.write() as s:
            event(s, kind, "failure", ctx, self._clock.now(), account_id, provider.id, reason=exc.code)

    # -- sign in / register ------------------------------------------------------------------

    async def _sign_in(
        self, provider: Provider, identity: Identity, remember: bool, ctx: Context, return_to: str | None
    ) -> LoginOutcome | SignupNeeded:
        async with self._db.read() as s:
            account = await store.account_of(s, identity.key)
        if account is not None:
            if account.state != "active":
                raise AuthenticationFailed("ceremony.failed")
            outcome = await self._login.proven(account, KIND, FEDERATED, remember, ctx, provider=provider.id)
            async with self._db.append() as batch:
                notify(
                    batch,
                    self._outbox,
                    self._sms_countries,
                    account,
                    "social_signin",
                    provider.name,
                    ctx,
                    self._clock.now(),
                )
            self._wake()
            return outcome
        if not self._enumeration_safe:
            taken = await self._taken(identity)
            if taken:
                raise AddressTaken(params={"name": provider.name, "address": taken})
        async with self._db.append() as batch:
            flow = new_flow(
                batch,
                kind=SIGNUP,
                state="claims",
                now=self._clock.now(),
                ttl_seconds=SIGNUP_TTL_SECONDS,
                ip=ctx.ip,
                data={"identity": identity.to_json(), "return_to": return_to},
            )
        return SignupNeeded(flow.id, provider.id)

    async def _taken(self, identity: Identity) -> str | None:
        """The provider's phone or email as shown, if the provider verified it and another cabinet
        holds it (it is *not* linked).  An unverified claim is never looked up: anybody can type any
        address at a provider that does not check it, and this answer has no captcha in front of it
        (SECURITY.md: never linked by an unverified or merely matching claim)."""
        if identity.phone and identity.phone_verified:
            row = await self._db.first(select(Account.id).where(Account.phone == identity.phone))
            if row is not None:
                return mask_phone(identity.phone)
        if identity.email and identity.email_verified:
            row = await self._db.first(select(Account.id).where(Account.email == identity.email))
            if row is not None:
                return mask_email(identity.email)
        return None

    # -- link ----------------------------------------------------------------------------------

    async def _link(self, rec: SessionRecord, provider: Provider, identity: Identity, ctx: Context) -> Linked:
        await self._reauth.require_recent(rec)
        now = self._clock.now()
        try:
            async with self._db.write() as s:
                holder = await store.account_of(s, identity.key)
                if holder is not None:
                    raise (
                        AlreadyLinked(params={"name": provider.name})
                        if holder.id == rec.account_id
                        else LinkedElsewhere(params={"name": provider.name})
                    )
                if any(c.name == provider.id for c in await store.of_account(s, rec.account_id)):
                    raise AlreadyLinked(params={"name": provider.name})
                account = await s.get(Account, rec.account_id)
                assert account is not None
                store.add(s, rec.account_id, identity, now)
                event(s, "social_linked", "success", ctx, now, rec.account_id, provider.id)
                notify(s, self._outbox, self._sms_countries, account, "social_linked", provider.name, ctx, now)
        except IntegrityError:  # a parallel link of the same provider account won
            raise LinkedElsewhere(params={"name": provider.name}) from None
        self._wake()
        return Linked(provider.id)

    # -- re-authentication ---------------------------------------------------------------------

    async def _reauthenticate(
        self, rec: SessionRecord, provider: Provider, identity: Identity, ctx: Context
    ) -> Reauthenticated:
        now = self._clock.now()
        async with self._db.write() as s:
            holder = await store.account_of(s, identity.key)
            if holder is None or holder.id != rec.account_id:
                raise NotLinkedHere(params={"name": provider.name})
            event(s, "reauth", "success", ctx, now, rec.account_id, provider.id)
            issued = await rotate(s, self._sessions, rec, ctx, strength=rec.strength.combined(FEDERATED), now=now)
        return Reauthenticated(issued)


def _normalised(identity: Identity) -> Identity:
    """The provider's phone in E.164 and email as Dostup stores them (or dropped when malformed)."""
    phone = email = None
    try:
        phone = parse_phone(identity.phone).e164 if identity.phone else None
    except ValidationFailed:
        phone = None
    try:
        email = parse_email(identity.email) if identity.email else None
    except ValidationFailed:
        email = None
    return Identity(
        identity.provider,
        identity.subject,
        email,
        identity.email_verified and email is not None,
        phone,
        identity.phone_verified and phone is not None,
        identity.given_name,
        identity.family_name,
        identity.middle_name,
    )


async def link_registered(
    s: AsyncSession, account_id: str, link: dict[str, object], ctx: Context, now: dt.datetime
) -> None:
    """The registration's ``ExternalLinker``: the new account is linked to the provider account that began it."""
    identity = Identity.from_json(link)
    store.add(s, account_id, identity, now)
    event(s, "social_linked", "success", ctx, now, account_id, identity.provider)
