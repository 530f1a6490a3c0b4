"""Company profiles use-cases: add, confirm by an email code, resend, delete, list (SPEC §4.6).

The kit seed: «Каждый профиль компании требует подтверждения прав через направление кода на
адрес электронной почты», and its FAQ's way out when the code does not arrive — «Удалить», then
«Добавить компанию» again with the right email, and a new code.  Rules:

- the confirmation is a persisted flow (``company_confirmation``, its id the profile's) proven by
  the code method: every code goes through the sending limits (SECURITY.md: one per address per
  60 s, 5 an hour, 10 a day, 10 per IP an hour), expires after 10 min (``codes.ttl_seconds``), dies
  after 5 wrong tries and when a new one is sent; it is bound to the profile (purpose
  ``company:<id>``) and its address;
- the profile, its code and the message are written in one unit of work, after every check, so a
  refused form or a refused send leaves nothing behind;
- one account cannot confirm the same INN twice: checked before the code is spent, and decided by
  the partial unique index when two confirmations race;
- another account's profile id is unknown (404), whatever the verb;
- security events ``company_added`` / ``company_confirmed`` / ``company_deleted`` carry the masked
  email only (never the INN: for ИП and ФЛ it is personal data).

With ``require_company`` (the kit preset, or ``DOSTUP_REQUIRE_COMPANY``) the cabinet counts as
registered only once one profile is confirmed; :meth:`CompanyService.onboarding` says whether it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts import companies as C
from dostup.accounts.companies import CompanyInput
from dostup.accounts.events import record_event
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.errors import Conflict, NotFound, StepNotAllowed
from dostup.core.masking import mask_email
from dostup.credentials.codes import CodeView, code_error
from dostup.guards.limits import Limiter, Rule
from dostup.persistence.db import Database
from dostup.persistence.models import Flow, OneTimeCode
from dostup.persistence.models_companies import Company
from dostup.selfservice.flows import CodeProof, make_flow, transition

Onboarding = Literal["company_required"]
ONBOARDING: Onboarding = "company_required"
MAX_PROFILES = 50
ADDS_PER_HOUR = 20
KIND = C.CONFIRMATION_FLOW
CODE_SENT = "code_sent"
COMPLETED = "completed"
# The profile waits for its code as long as it takes («Получить код повторно» any day later); a
# resend after this reopens the flow.
FLOW_TTL_SECONDS = 30 * 86400


class CompanyProof(CodeProof, Protocol):
    """How a profile's confirmation proves the company's email: the code method implements it
    (``dostup.selfservice.methods.code.companies``), wired in by ``dostup.app``.  ``check`` runs in
    the resend's unit of work before the code is written (the profile may be deleted meanwhile)."""

    async def resend(self, flow: Flow, ctx: Context, *,
                     check: Callable[[AsyncSession], Awaitable[None]] | None = None) -> CodeView: ...


@dataclass(frozen=True, slots=True)
class CompanyView:
    id: str
    kind: str
    name: str
    inn: str | None
    kpp: str | None
    ogrn: str | None
    ogrnip: str | None
    address: str | None
    email: str
    status: Literal["confirmed", "unconfirmed"]
    created_at: UtcTime
    confirmed_at: UtcTime | None
    destination: str  # the email, masked, as the «code sent to» line shows it
    code_expires_at: UtcTime | None
    resend_after_seconds: int

    @property
    def confirmed(self) -> bool:
        return self.status == "confirmed"


def _view(c: Company, code_expires_at: dt.datetime | None = None, resend_after: int = 0) -> CompanyView:
    return CompanyView(
        id=c.id, kind=c.kind, name=c.name, inn=c.inn, kpp=c.kpp,
        ogrn=c.ogrn if c.kind == C.LEGAL else None, ogrnip=c.ogrn if c.kind == C.ENTREPRENEUR else None,
        address=c.address, email=c.email, status="confirmed" if c.confirmed_at else "unconfirmed",
        created_at=c.created_at, confirmed_at=c.confirmed_at, destination=mask_email(c.email),
        code_expires_at=None if c.confirmed_at else code_expires_at, resend_after_seconds=resend_after,
    )


def _not_found() -> NotFound:
    return NotFound("company.not_found")


class CompanyService:
    def __init__(self, *, proof: CompanyProof, db: Database, clock: Clock, limiter: Limiter,
                 required: bool) -> None:
        self.proof = proof
        self.db = db
        self.clock = clock
        self.limiter = limiter
        self.required = required
        self.per_account = Rule("company-add", ADDS_PER_HOUR, 3600)

    # -- reading ----------------------------------------------------------------------------

    async def list(self, account_id: str) -> list[CompanyView]:
        async with self.db.read() as s:
            return [_view(c) for c in await C.for_account(s, account_id)]

    def _draft(self, company: Company, now: dt.datetime, ip: str) -> Flow:
        """The profile's confirmation flow, not yet stored (its id is the profile's)."""
        return make_flow(kind=KIND, state=CODE_SENT, data={"email": company.email}, now=now,
                         ttl_seconds=FLOW_TTL_SECONDS, ip=ip, account_id=company.account_id, flow_id=company.id)

    @staticmethod
    async def _flow(s: AsyncSession, company: Company) -> Flow | None:
        flow = await s.get(Flow, company.id)
        return flow if flow is not None and flow.kind == KIND and flow.account_id == company.account_id else None

    async def view(self, account_id: str, company_id: str | None) -> CompanyView:
        async with self.db.read() as s:
            company = await C.owned(s, account_id, company_id)
            if company is None:
                raise _not_found()
            flow = None if company.confirmed_at else await self._flow(s, company)
            expires = await self.proof.expiry(s, flow) if flow is not None else None
        if company.confirmed_at:
            return _view(company)
        code = await self.proof.shown(flow or self._draft(company, self.clock.now(), ""), expires)
        return _view(company, code.code_expires_at, code.resend_after_seconds)

    async def onboarding(self, account_id: str) -> Onboarding | None:
        """``"company_required"`` while a required company is not confirmed yet, else ``None``.

        One indexed existence check on a bare Core connection (an ORM session costs more than the
        query).  whoami gives the same answer from its session look-up, which reads the same
        condition in the same query (``dostup.session.reader``), so it needs no call here.
        """
        if not self.required:
            return None
        async with self.db.reader.connect() as conn:
            confirmed = (await conn.execute(C.CONFIRMED_EXISTS, {"account_id": account_id})).first() is not None
        return None if confirmed else ONBOARDING

    async def onboarding_step(self, account_id: str) -> str | None:
        """Where an unfinished registration stands: ``"add"`` a profile, ``"confirm"`` one, or done."""
        if not self.required:
            return None
        async with self.db.read() as s:
            if await C.has_confirmed(s, account_id):
                return None
            return "confirm" if await C.count_for(s, account_id) else "add"

    # -- adding -----------------------------------------------------------------------------

    async def add(self, account_id: str, inp: CompanyInput, ctx: Context) -> CompanyView:
        """Check the form, then write the profile, its code and the email in one unit of work."""
        parsed = C.parse_company(inp)
        async with self.db.read() as s:
            if parsed.inn and await C.inn_confirmed(s, account_id, parsed.inn):
                raise Conflict("company.inn_confirmed", field="inn", code="company_confirmed")
            if await C.count_for(s, account_id) >= MAX_PROFILES:
                raise Conflict("company.too_many_profiles", code="too_many_companies", params={"max": MAX_PROFILES})
        await self.limiter.hit(self.per_account, account_id, message_id="company.too_many_adds")
        now = self.clock.now()
        company = Company(
            id=C.new_company_id(), account_id=account_id, kind=parsed.kind, name=parsed.name, inn=parsed.inn,
            kpp=parsed.kpp, ogrn=parsed.ogrn, address=parsed.address, email=parsed.email, created_at=now,
        )
        flow = self._draft(company, now, ctx.ip)
        await self.proof.reserve(flow, ctx)
        async with self.db.write() as s:
            s.add(company)
            s.add(flow)
            code = self.proof.send(s, flow, ctx, now)
            record_event(s, kind="company_added", outcome="success", ctx=ctx, now=now, account_id=account_id,
                         destination=mask_email(parsed.email), company_id=company.id, company_kind=parsed.kind)
        self.proof.sent(flow)
        return _view(company, code.code_expires_at, code.resend_after_seconds)

    # -- the code ---------------------------------------------------------------------------

    async def _unconfirmed(self, account_id: str, company_id: str | None) -> tuple[Company, Flow | None]:
        async with self.db.read() as s:
            company = await C.owned(s, account_id, company_id)
            if company is None:
                raise _not_found()
            if company.confirmed_at is not None:
                raise StepNotAllowed("company.already_confirmed", code="already_confirmed")
            return company, await self._flow(s, company)

    async def resend(self, account_id: str, company_id: str | None, ctx: Context) -> CompanyView:
        """A new code to the profile's email after the cool-down; the previous code dies."""
        company, flow = await self._unconfirmed(account_id, company_id)
        now = self.clock.now()
        reopen = flow is None or flow.expires_at <= now or flow.state != CODE_SENT
        if flow is None or reopen:
            flow = self._draft(company, now, ctx.ip)
        fresh = flow

        async def check(s: AsyncSession) -> None:
            if await C.owned(s, account_id, company.id) is None:  # deleted meanwhile: send nothing
                raise _not_found()
            if reopen:
                await s.execute(delete(Flow).where(Flow.id == company.id))
                s.add(fresh)

        code = await self.proof.resend(flow, ctx, check=check)
        return _view(company, code.code_expires_at, code.resend_after_seconds)

    async def confirm(self, account_id: str, company_id: str | None, code: str | None,
                      ctx: Context) -> tuple[CompanyView, bool]:
        """Confirm the profile; returns it and whether this completed a required onboarding."""
        company, flow = await self._unconfirmed(account_id, company_id)
        value = self.proof.check_format(code)
        now = self.clock.now()
        completed = False
        try:
            async with self.db.write() as s:
                if company.inn and await C.inn_confirmed(s, account_id, company.inn):
                    outcome = "duplicate"  # refused before the code is spent: the user may delete the other
                elif flow is None:
                    outcome = "code_invalid"  # no code was ever sent through a flow
                else:
                    outcome = await self.proof.verify(s, flow, value, now)
                if outcome == "ok":
                    assert flow is not None
                    completed = self.required and not await C.has_confirmed(s, account_id)
                    await transition(s, flow, from_state=CODE_SENT, to_state=COMPLETED, now=now)
                    done = await s.execute(
                        update(Company)
                        .where(Company.id == company.id, Company.account_id == account_id)
                        .where(Company.confirmed_at.is_(None))
                        .values(confirmed_at=now)
                    )
                    if done.rowcount != 1:  # type: ignore[attr-defined]
                        raise _not_found()  # deleted meanwhile; the rollback keeps the code unused
                detail: dict[str, object] = {"destination": mask_email(company.email), "company_id": company.id}
                if outcome != "ok":
                    detail["reason"] = outcome
                record_event(s, kind="company_confirmed", outcome="success" if outcome == "ok" else "failure",
                             ctx=ctx, now=now, account_id=account_id, **detail)
        except IntegrityError:
            outcome = "duplicate"  # a parallel confirmation of the same INN won
        if outcome == "duplicate":
            raise Conflict("company.inn_confirmed", code="company_confirmed")
        if outcome != "ok":
            raise code_error(outcome)
        return await self.view(account_id, company.id), completed

    # -- deleting ---------------------------------------------------------------------------

    async def delete(self, account_id: str, company_id: str | None, ctx: Context) -> None:
        """«Удалить»: the profile goes, and so does any live code for it."""
        now = self.clock.now()
        async with self.db.write() as s:
            company = await C.owned(s, account_id, company_id)
            if company is None:
                raise _not_found()
            await s.execute(
                update(OneTimeCode)
                .where(OneTimeCode.account_id == account_id, OneTimeCode.purpose == C.code_purpose(company.id))
                .where(OneTimeCode.used_at.is_(None), OneTimeCode.invalidated_at.is_(None))
                .values(invalidated_at=now)
            )
            await s.execute(delete(Flow).where(Flow.id == company.id, Flow.kind == KIND))
            await s.execute(delete(Company).where(Company.id == company.id, Company.account_id == account_id))
            record_event(s, kind="company_deleted", outcome="success", ctx=ctx, now=now, account_id=account_id,
                         destination=mask_email(company.email), company_id=company.id,
                         was_confirmed=company.confirmed_at is not None)
