"""«Подтверждённая учётная запись» through a bank over OpenID Connect (SPEC §4.8: «a trusted identity provider
(a bank over OpenID Connect whose verified claims must match)»; the gosuslugi seed: «Как зарегистрироваться,
если вы клиент Сбербанка … вы сможете подтвердить личность онлайн … После проверки данных вы сразу получите
подтверждённую учётную запись»).

* :meth:`BankConfirmation.start` — a «Стандартная» account picks a bank the operator marked
  ``confirms_identity``; a flow (``identity_bank``, 10 minutes, bound to the account and its session) keeps
  the PKCE verifier and the nonce, its id is the ``state``, and the browser goes to the bank asking for the
  person's verified claims (:mod:`dostup.federation.assurance`).
* :meth:`BankConfirmation.callback` — the bank's answer.  The flow is spent first by a guarded
  ``ceremony → done`` UPDATE (:func:`dostup.selfservice.login.ceremony.spend`): a replayed, unknown or
  expired ``state`` is refused before the bank is asked, and of two racing answers one goes on.  The code is
  exchanged (ID token checked: signature, ``iss``, ``aud``, ``exp``, ``nonce``), and the bank's names
  (case-, ``ё``/``е``- and spacing-insensitive), birth date (exactly) and — where it gives them — SNILS and
  passport are compared with the checked profile in one unit of work with the account's row locked: all
  match → «Подтверждённая», a waiting letter cancelled, the security event, a notice through the outbox and a
  ``verification_requests`` row (``verifier`` ``bank``: which bank and which of its accounts vouched); a claim
  missing or different → the level stays, and a failure event names the fields (never their values).

The bank's account is not linked as a way in (SECURITY.md: never linked by a matching claim; the customer
links a provider in «Способы входа» if they want one).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts import levels as L
from dostup.accounts.events import record_event
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.crypto import random_id
from dostup.core.errors import (
    Conflict,
    DostupError,
    FlowExpired,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    StepNotAllowed,
)
from dostup.federation.assurance import Asserted, asserted, claims_request
from dostup.federation.client import FederationClient, ProviderRefused, ProviderUnavailable, Secrets
from dostup.federation.providers import Provider
from dostup.persistence.db import Database, Raw
from dostup.persistence.models import Account, Flow
from dostup.persistence.models_levels import IdentityProfile, VerificationRequest
from dostup.selfservice.flows import flow_values, within_live_limit
from dostup.selfservice.login import ceremony
from dostup.selfservice.notices import AccountNotice as Notice
from dostup.selfservice.verification import flow as vflow
from dostup.selfservice.verification.passport import PassportSeal

KIND = "identity_bank"
VERIFIER = "bank"
TTL_SECONDS = 600  # a sign-in at a bank (its own password and SMS code) takes longer than a passkey's 5 minutes
MAX_CODE = 2048
EVENT = "identity_bank"
MAX_LIVE = 5  # flows started and not answered yet, per account



class BankUnknown(NotFound):
    code = "provider_unknown"
    message_id = "bank.unknown"


class BankStateInvalid(NotFound):
    code = "state_invalid"
    message_id = "bank.state_invalid"


class BankSpent(StepNotAllowed):
    code = "ceremony_spent"
    message_id = "bank.spent"


class BankDenied(Forbidden):
    """The customer pressed «Отказать» at the bank (``error=access_denied``)."""

    code = "access_denied"
    message_id = "bank.denied"


class BankRefused(DostupError):
    """The bank's answer proves nothing (an error, a refused code, a bad ID token): 400, not 401 — the
    customer's own session is fine."""

    code = "provider_refused"
    message_id = "bank.refused"


class BankUnavailable(ServiceUnavailable):
    code = "provider_unavailable"
    message_id = "bank.unavailable"


class ClaimsMissing(Conflict):
    code = "claims_missing"
    message_id = "bank.claims_missing"


class ClaimsMismatch(Conflict):
    code = "claims_mismatch"
    message_id = "bank.claims_mismatch"


@dataclass(frozen=True, slots=True)
class BankOption:
    id: str
    name: str
    icon: str


@dataclass(frozen=True, slots=True)
class BankView:
    """What the customer may do: ``may_start`` — «Стандартная» and at least one bank configured."""

    level: str  # dostup.accounts.levels.LEVELS
    may_start: bool
    banks: list[BankOption]


@dataclass(frozen=True, slots=True)
class BankStarted:
    flow_id: str  # the ``state`` the bank sends back
    authorization_url: str
    expires_at: UtcTime


_SPACES = re.compile(r"\s+")
_DASHES = re.compile(r"[\u2010-\u2015\u2212]")


def same_name(a: str | None, b: str | None) -> bool:
    """Names as a person would read them: Unicode-normalised, case-folded, ``ё`` as ``е``, any dash as ``-``,
    spacing collapsed («ПЁТР» = «петр»)."""

    def norm(value: str | None) -> str:
        text = unicodedata.normalize("NFKC", value or "").casefold().replace("ё", "е")
        return _SPACES.sub(" ", _DASHES.sub("-", text)).strip()

    return norm(a) == norm(b)


def _digits(value: str | None) -> str:
    return "".join(c for c in value or "" if c.isascii() and c.isdigit())


def compare(bank: Asserted, account: Account, profile: IdentityProfile,
            passport: Mapping[str, object]) -> tuple[list[str], list[str]]:
    """The fields the bank did not give, and those that differ from the checked profile (names only)."""
    missing = [name for name in ("family_name", "given_name", "birthdate") if not getattr(bank, name)]
    middle = None if profile.no_middle_name else account.middle_name
    if middle and not bank.middle_name:
        missing.append("middle_name")
    differ = [name for name in ("family_name", "given_name") if getattr(bank, name)
              and not same_name(getattr(bank, name), getattr(account, name))]
    if bank.middle_name and not same_name(bank.middle_name, middle):
        differ.append("middle_name")
    if bank.birthdate and (profile.birth_date is None or bank.birthdate != profile.birth_date.isoformat()):
        differ.append("birthdate")
    if bank.snils and _digits(bank.snils) != (account.snils or ""):
        differ.append("snils")
    if bank.passport and _digits(bank.passport) != f"{passport['passport_series'] or ''}{passport['passport_number'] or ''}":
        differ.append("passport")
    return missing, differ


class BankConfirmation:
    def __init__(self, *, db: Database, clock: Clock, client: FederationClient, public_url: str, notify: Notice,
                 wake_courier: Callable[[], None], enabled: bool, passport: PassportSeal) -> None:
        self._db = db
        self._passport = passport
        self._clock = clock
        self._client = client
        self._public_url = public_url
        self._notify = notify
        self._wake = wake_courier
        self.enabled = enabled  # levels on (gosuslugi); otherwise every use-case is 404

    @property
    def banks(self) -> list[Provider]:
        """The providers the operator marked ``confirms_identity`` (only they are offered, only they are taken)."""
        return [p for p in self._client.providers.values() if p.confirms_identity]

    def _on(self) -> None:
        if not self.enabled:
            raise NotFound()

    def _bank(self, provider_id: str) -> Provider:
        found = self._client.providers.get(provider_id)
        if found is None or not found.confirms_identity:
            raise BankUnknown()
        return found

    def callback_url(self, provider: Provider) -> str:
        """The redirect URI to register at the bank (beside social sign-in's ``/social/{id}/callback``)."""
        return f"{self._public_url}/settings/identity/bank/{provider.id}/callback"

    async def view(self, account_id: str) -> BankView:
        self._on()
        async with self._db.read() as s:
            level = await L.stored_level(s, account_id)
        banks = [BankOption(p.id, p.name, p.icon) for p in self.banks]
        return BankView(L.level_name(level), level == L.STANDARD and bool(banks), banks)

    # -- start -----------------------------------------------------------------------------------------

    async def start(self, account_id: str, session_id: str, provider_id: str, ctx: Context) -> BankStarted:
        self._on()
        provider = self._bank(provider_id)
        async with self._db.read() as s:
            _standard(await L.stored_level(s, account_id))
        await self._client.endpoints(provider)  # discovery first: a bank that is down leaves no flow behind
        secrets = Secrets.new()
        row = flow_values(kind=KIND, state=ceremony.CEREMONY, now=self._clock.now(), ttl_seconds=TTL_SECONDS,
                          ip=ctx.ip, account_id=account_id,
                          data={"method": VERIFIER, "state": dict(secrets), "provider": provider.id,
                                "session": session_id})
        try:
            url = await self._client.authorization_url(provider, str(row["id"]), secrets,
                                                       self.callback_url(provider), claims_request())
        except ProviderUnavailable:
            raise BankUnavailable(params={"name": provider.name}) from None
        async with self._db.write() as s:
            await s.get(Account, account_id, with_for_update=True)  # racing starts are counted in turn
            await within_live_limit(s, account_id, kind=KIND, state=ceremony.CEREMONY,
                                    now=cast(dt.datetime, row["created_at"]), limit=MAX_LIVE, message_id="bank.too_many")
            s.add(Flow(**row))
        expires = row["expires_at"]
        assert isinstance(expires, dt.datetime)
        return BankStarted(str(row["id"]), url, expires)

    # -- callback --------------------------------------------------------------------------------------

    async def callback(self, account_id: str, session_id: str, provider_id: str, state: str | None,
                       code: str | None, error: str | None, ctx: Context) -> BankView:
        self._on()
        provider = self._bank(provider_id)
        now = self._clock.now()

        def spend(raw: Raw) -> ceremony.Spent:
            spent = ceremony.spend(raw, state, kind=KIND, now=now)
            if (spent.account_id != account_id or spent.data.get("session") != session_id
                    or spent.data.get("provider") != provider.id):
                raise BankStateInvalid()  # rolled back: another session's or bank's flow stays as it was
            return spent

        try:
            spent = await self._spent(spend)  # a replayed, unknown, expired or foreign state stops here
            claims = await self._claims(provider, code, error, spent.data)
        except DostupError as exc:
            await self._failed(account_id, provider, exc, ctx, now)
            raise
        async with self._db.write() as s:
            refusal = await self._confirm(s, account_id, provider, claims, ctx, now)
        if refusal is not None:  # its failure event is committed; now say what was wrong
            raise refusal
        self._wake()
        return await self.view(account_id)

    async def _spent(self, spend: Callable[[Raw], ceremony.Spent]) -> ceremony.Spent:
        try:
            return await self._db.run_raw(spend)
        except ceremony.CeremonySpent:
            raise BankSpent() from None
        except FlowExpired:
            raise FlowExpired("bank.expired") from None
        except NotFound:
            raise BankStateInvalid() from None

    async def _claims(self, provider: Provider, code: str | None, error: str | None,
                      data: dict[str, object]) -> dict[str, object]:
        params = {"name": provider.name}
        if error:
            raise BankDenied(params=params) if error == "access_denied" else BankRefused(params=params)
        if not code or len(code) > MAX_CODE:
            raise BankRefused(params=params)
        kept = data.get("state")
        secrets = Secrets({str(k): str(v) for k, v in kept.items()} if isinstance(kept, dict) else {})
        try:
            return await self._client.claims(provider, code, secrets, self.callback_url(provider))
        except ProviderRefused:
            raise BankRefused(params=params) from None
        except ProviderUnavailable:
            raise BankUnavailable(params=params) from None

    async def _confirm(self, s: AsyncSession, account_id: str, provider: Provider, claims: dict[str, object],
                       ctx: Context, now: dt.datetime) -> DostupError | None:
        """Compare and, on a match, confirm; a refusal is returned (its event written), not raised, so that
        the event commits."""
        bank = asserted(claims)
        account = await s.get(Account, account_id, with_for_update=True)  # a letter's code racing: one after the other
        profile = await s.get(IdentityProfile, account_id)
        if account is None or account.state != "active" or profile is None or profile.level != L.STANDARD:
            level = profile.level if profile is not None else L.SIMPLIFIED
            return _standard_error(level)
        missing, differ = compare(bank, account, profile, self._passport.read(profile))
        params = {"name": provider.name}
        if missing or differ:
            reason = ClaimsMissing(params=params) if missing else ClaimsMismatch(params=params)
            record_event(s, kind=EVENT, outcome="failure", ctx=ctx, now=now, account_id=account_id,
                         provider=provider.id, reason=reason.code, fields=sorted(missing or differ))
            return reason
        done = await s.execute(update(IdentityProfile).where(IdentityProfile.account_id == account_id,
                                                             IdentityProfile.level == L.STANDARD)
                               .values(level=L.CONFIRMED, level_changed_at=now, updated_at=now)
                               .execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return _standard_error(L.CONFIRMED)
        await L.cancel_pending(s, account_id, now)  # a letter still waiting with its code is not needed now
        vouched = {"provider": provider.id, "subject": str(claims.get("sub"))[:255], "verified_claims": bank.verified}
        s.add(VerificationRequest(id=random_id(), account_id=account_id, level=L.CONFIRMED, state=vflow.APPROVED,
                                  verifier=VERIFIER, data=vouched, answered_by=provider.id[:32], answered_at=now,
                                  created_at=now, updated_at=now))
        record_event(s, kind="identity_confirmed_bank", outcome="success", ctx=ctx, now=now, account_id=account_id,
                     provider=provider.id, verified_claims=bank.verified)
        self._notify(s, account, "identity_confirmed_bank", ctx, now)
        return None

    async def _failed(self, account_id: str, provider: Provider, exc: DostupError, ctx: Context,
                      now: dt.datetime) -> None:
        async with self._db.write() as s:
            record_event(s, kind=EVENT, outcome="failure", ctx=ctx, now=now, account_id=account_id,
                         provider=provider.id, reason=exc.code)


def _standard_error(level: int) -> DostupError:
    if level >= L.CONFIRMED:
        return Conflict("bank.already_confirmed", code="not_standard")
    return Conflict("bank.standard_first", code="not_standard")


def _standard(level: int) -> None:
    if level != L.STANDARD:
        raise _standard_error(level)
