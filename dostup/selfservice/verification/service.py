"""«Стандартная учётная запись»: fill the full profile, send it for the check, take the verifier's answer
(SPEC §4.8; the gosuslugi seed: «Добавьте отчество, пол, дату и место рождения, гражданство. Введите …
паспортные данные и номер СНИЛС»; «Проверка указанных сведений обычно занимает несколько часов. После её
завершения на электронную почту или мобильный телефон придёт сообщение о результате»).

* :meth:`VerificationService.submit` checks every field (:func:`dostup.identity.person.parse_person`: all
  problems at once, nothing written unless all are right), stores the profile and a ``submitted`` request
  (its copy of the person with the passport sealed, :mod:`dostup.core.passport`), and hands it to the
  verifier — all in one unit of work.  Saving the same data again while it is checked,
  or while it waits (for a day: after that the same data is sent again, in case the first request was lost
  on its way), changes nothing; different data lowers a checked level and replaces a waiting request.
* :meth:`VerificationService.answer_in` is the verifier's answer, in the caller's unit of work (an
  operator's, with its audit row; or the registry's callback): the level becomes «Стандартная» on
  approval, and the user is told either way by SMS or email.  Once answered, the request no longer needs
  its copy of the passport and the rest of the person: it keeps a keyed digest of what was checked
  (:func:`checked_digest`; the profile's ``checked`` the same), which proves a given profile was the one
  checked without keeping a second copy of it (152-FZ's data minimisation; the profile itself holds the
  current values).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts import levels as L
from dostup.accounts.catalogue import Catalogue, CatalogueEntry, catalogue
from dostup.accounts.events import record_event
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.crypto import Keyring, random_id
from dostup.core.errors import Conflict, NotFound, RateLimited
from dostup.core.i18n import Catalog
from dostup.courier.outbox import Outbox
from dostup.identity.person import PersonData, parse_person
from dostup.persistence.db import Database
from dostup.persistence.models import Account
from dostup.persistence.models_levels import IdentityProfile, VerificationRequest
from dostup.selfservice.notices import notice_destination
from dostup.selfservice.verification import flow
from dostup.selfservice.verification.passport import PassportSeal
from dostup.selfservice.verification.verifiers import RegistryVerifier

_PROFILE_FIELDS = ("no_middle_name", "gender", "birth_date", "birth_place", "citizenship")  # the passport: sealed
DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PersonView:
    """The full profile as stored (dates ISO); empty fields are ``None``."""

    family_name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    no_middle_name: bool = False
    gender: str | None = None
    birth_date: str | None = None
    birth_place: str | None = None
    citizenship: str | None = None
    passport_series: str | None = None
    passport_number: str | None = None
    passport_issued_on: str | None = None
    passport_division_code: str | None = None
    passport_issuer: str | None = None
    snils: str | None = None


@dataclass(frozen=True, slots=True)
class IdentityView:
    status: L.AccountStatus
    person: PersonView
    level_lowered: bool = False  # this change lowered the level: the user is told
    sent: bool = False  # this call sent the profile for the check (False: nothing had changed)


def stored_snapshot(account: Account, profile: IdentityProfile | None, passport: PassportSeal) -> dict[str, object]:
    """What is stored now, in :meth:`PersonData.snapshot`'s shape."""
    out: dict[str, object] = {name: getattr(account, name) for name in L.ACCOUNT_CHECKED}
    for name in _PROFILE_FIELDS:
        value = getattr(profile, name) if profile is not None else None
        out[name] = value.isoformat() if isinstance(value, dt.date) else value
    out.update(passport.read(profile))
    out["no_middle_name"] = bool(out["no_middle_name"])
    return out


def _person_view(account: Account, profile: IdentityProfile | None, passport: PassportSeal) -> PersonView:
    snap = stored_snapshot(account, profile, passport)
    return PersonView(**{f.name: snap.get(f.name) for f in dataclasses.fields(PersonView)})  # type: ignore[arg-type]


class VerificationService:
    def __init__(self, *, db: Database, clock: Clock, verifier: flow.Verifier, catalog: Catalog, outbox: Outbox,
                 sms_countries: Sequence[str], wake_courier: Callable[[], None], enabled: bool,
                 email_by_link: bool, requests_per_day: int, keyring: Keyring,
                 entries: Sequence[CatalogueEntry] = ()) -> None:
        self._db = db
        self._keyring = keyring
        self._passport = PassportSeal(keyring)
        self._clock = clock
        self.verifier = verifier
        self._catalog = catalog
        self._outbox = outbox
        self._sms_countries = sms_countries
        self.wake_courier = wake_courier
        self.enabled = enabled  # the preset raises levels (gosuslugi); otherwise every use-case is 404
        self._email_by_link = email_by_link
        self._per_day = requests_per_day
        self._entries = tuple(entries)  # the service catalogue

    def _on(self) -> None:
        if not self.enabled:
            raise NotFound()

    async def view(self, account_id: str) -> IdentityView:
        self._on()
        async with self._db.read() as s:
            return await self._view(s, account_id)

    async def _view(self, s: AsyncSession, account_id: str, *, lowered: bool = False, sent: bool = False) -> IdentityView:
        account = await s.get(Account, account_id)
        assert account is not None
        profile = await s.get(IdentityProfile, account_id)
        status = L.account_status(account, email_by_link=self._email_by_link,
                                  level=profile.level if profile else L.SIMPLIFIED,
                                  verification=await L.latest_verification(s, account_id), levels_on=True)
        return IdentityView(status, _person_view(account, profile, self._passport), lowered, sent)

    async def catalogue(self, account_id: str) -> Catalogue:
        """The services the account may use at its level, and what the next level unlocks."""
        self._on()
        async with self._db.read() as s:
            level = await L.stored_level(s, account_id)
        return catalogue(self._entries, level)

    async def submit(self, account_id: str, raw: Mapping[str, object], ctx: Context) -> IdentityView:
        """Save the full profile and send it for the check (the seed's «Сохранить»)."""
        self._on()
        now = self._clock.now()
        person = parse_person(raw, now.date())
        snap = person.snapshot()
        taken = Conflict("settings.snils_taken", field="snils", code="snils_taken")
        try:
            async with self._db.write() as s:
                # the account's row locked (PostgreSQL; SQLite's write unit is serial): two submissions racing
                # run one after the other, so the second sees and cancels the first's request
                account = await s.get(Account, account_id, with_for_update=True)
                assert account is not None
                profile = await s.get(IdentityProfile, account_id)
                stored = stored_snapshot(account, profile, self._passport)
                latest = await L.latest_verification(s, account_id)
                level = profile.level if profile else L.SIMPLIFIED
                waiting = latest is not None and latest.state == flow.SUBMITTED and now - latest.created_at < DAY
                if stored == snap and (level >= L.STANDARD or waiting):
                    return await self._view(s, account_id)  # already checked, or waiting: nothing new
                if person.snils != account.snils and (await s.execute(
                        select(Account.id).where(Account.snils == person.snils))).first() is not None:
                    raise taken
                await self._within_limit(s, account_id, now)
                changed = {k: v for k, v in snap.items() if stored.get(k) != v}
                lowered = await L.checked_fields_changed(s, account_id, changed, ctx, now)
                await L.cancel_pending(s, account_id, now)  # the same data sent again: the old request is replaced
                profile = profile or await self._new_profile(s, account_id, now)
                self._write(account, profile, person, now)
                request = VerificationRequest(id=random_id(), account_id=account_id, level=L.STANDARD,
                                              state=flow.SUBMITTED, verifier=self.verifier.name,
                                              data=self._passport.check.seal_within(snap), created_at=now,
                                              updated_at=now)
                s.add(request)
                self.verifier.submit(s, request, now)
                record_event(s, kind="verification_submitted", outcome="success", ctx=ctx, now=now,
                             account_id=account_id, verifier=self.verifier.name)
                await s.flush()
                view = await self._view(s, account_id, lowered=lowered, sent=True)
        except IntegrityError:
            raise taken from None
        self.wake_courier()
        return view

    async def _within_limit(self, s: AsyncSession, account_id: str, now: dt.datetime) -> None:
        r = VerificationRequest  # the profile's submissions; a letter's order is limited to one waiting
        oldest_counted = now - DAY
        made = (await s.execute(select(func.count(), func.min(r.created_at)).where(
            r.account_id == account_id, r.level == L.STANDARD, r.created_at > oldest_counted))).one()
        if made[0] >= self._per_day:
            wait = (made[1] + DAY - now).total_seconds()
            raise RateLimited(int(wait) + 1, "verification.too_many", params={"count": self._per_day})

    @staticmethod
    async def _new_profile(s: AsyncSession, account_id: str, now: dt.datetime) -> IdentityProfile:
        profile = IdentityProfile(account_id=account_id, level=L.SIMPLIFIED, no_middle_name=False, updated_at=now)
        s.add(profile)
        return profile

    def _write(self, account: Account, profile: IdentityProfile, person: PersonData, now: dt.datetime) -> None:
        for name in L.ACCOUNT_CHECKED:
            setattr(account, name, getattr(person, name))
        for name in _PROFILE_FIELDS:
            setattr(profile, name, getattr(person, name))
        self._passport.write(profile, person.snapshot())
        account.updated_at = profile.updated_at = now

    async def answer_in(self, s: AsyncSession, request_id: str, *, approved: bool, reason: str | None, by: str,
                        ctx: Context, now: dt.datetime) -> VerificationRequest:
        """The verifier's answer, in the caller's unit of work; call :attr:`wake_courier` after its commit."""
        req = await flow.answer(s, request_id, approved=approved, reason=reason, by=by, now=now)
        account = await s.get(Account, req.account_id)
        assert account is not None
        checked = checked_digest(self._keyring, self._passport.check.open_within(req.data))  # sealed or, before, not
        if approved:
            profile = await s.get(IdentityProfile, req.account_id) or await self._new_profile(s, req.account_id, now)
            if profile.level < req.level:
                profile.level, profile.level_changed_at = req.level, now
            profile.checked, profile.updated_at = checked, now
        req.data = dict(checked)  # answered: the copy of the person is no longer needed
        record_event(s, kind="level_raised" if approved else "verification_rejected", outcome="success", ctx=ctx,
                     now=now, account_id=req.account_id, verifier=req.verifier)
        dest = notice_destination(account, self._sms_countries)
        if dest is not None and account.state == "active":
            locale = account.locale or "ru"
            params: dict[str, object] = {"level": self._catalog.text("status.level." + L.level_name(req.level), locale),
                      "reason": reason or self._catalog.text("verification.no_reason", locale)}
            if approved:
                self._outbox.enqueue(s, kind="verification_approved", channel=dest[0], to=dest[1], now=now,
                                     locale=locale, account_id=account.id, params=params)
            else:
                self._outbox.enqueue(s, kind="verification_rejected", channel=dest[0], to=dest[1], now=now,
                                     locale=locale, account_id=account.id, params=params)
        return req

    async def registry_answer(self, body: bytes, timestamp: str | None, signature: str | None, ctx: Context) -> None:
        """The external registry's signed answer (``RegistryVerifier``'s contract)."""
        if not self.enabled or not isinstance(self.verifier, RegistryVerifier):
            raise NotFound()
        now = self._clock.now()
        request_id, approved, reason = self.verifier.read_answer(body, timestamp, signature, now)
        async with self._db.write() as s:
            req = await s.get(VerificationRequest, request_id) if len(request_id) <= 32 else None
            if req is None or req.verifier != RegistryVerifier.name:
                raise NotFound("verification.not_found")
            await self.answer_in(s, request_id, approved=approved, reason=reason, by="registry", ctx=ctx, now=now)
        self.wake_courier()


def checked_digest(keyring: Keyring, snapshot: Mapping[str, object]) -> dict[str, object]:
    """What a check saw, as a keyed digest of its snapshot (HMAC-SHA-256 under a key for this use only):
    equal for the same profile, and of no use to anyone without the instance key."""
    text = json.dumps(dict(snapshot), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return {"digest": keyring.mac("identity:checked", text)}


async def erase_identity(s: AsyncSession, account_id: str, now: dt.datetime) -> None:
    """An ``Eraser`` for account deletion: the profile goes; the requests keep their answers but not the data,
    and one still waiting is cancelled (its verifier's answer then finds nothing to do)."""
    await L.cancel_pending(s, account_id, now)
    await s.execute(delete(IdentityProfile).where(IdentityProfile.account_id == account_id))
    await s.execute(update(VerificationRequest).where(VerificationRequest.account_id == account_id)
                    .values(data={}).execution_options(synchronize_session=False))
