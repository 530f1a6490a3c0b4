"""The operator console's account card and its two actions (SPEC §4.14: «account card with history;
block/unblock»).

Every call names its reason, and is written to the audit trail (``operator_actions``) in the unit
of work that reads or changes the account: nothing is shown or changed unrecorded.

* The card: what support needs to help a customer — identifiers, names, state, the confirmed
  contacts, how many sessions are live, the companies and linked contracts (cards masked), and the
  latest security events (the customer's own «История действий»).
* Block: the account's state becomes ``blocked``.  Everything that signs in or checks a session
  already admits only an ``active`` account — password, code, passkey, passcode and social sign-in,
  recovery, the session check on every request, OpenID Connect's userinfo — so the account is shut
  at once; its sessions are also ended, and the partners told of them (back-channel logout), and
  every partner's grant ends, offline ones too: no refresh token of the account works again.  The
  customer's history gets an event; unblocking gives the account back as it was.

An operator acts on customers only; an administrator also on operators; nobody on themselves or an
administrator (that is ``dostup admin`` on the server).  A deleted account has no card.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts.deletion import Eraser
from dostup.accounts.events import record_event
from dostup.accounts.levels import stored_level
from dostup.admin.audit import entry
from dostup.admin.search import operator_reason
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.errors import Conflict, Forbidden, NotFound
from dostup.credentials import devices, passkeys, recovery_codes, totp
from dostup.identity.repository import BLOCKED
from dostup.persistence.db import Adds, Database
from dostup.persistence.models import Account, Credential, SecurityEvent, Session
from dostup.persistence.models_companies import Company
from dostup.persistence.models_contracts import ContractLink
from dostup.session.service import SessionService

RECENT_EVENTS = 20
SECOND_FACTORS = (totp.TYPE, recovery_codes.TYPE, passkeys.TYPE)  # credential types a reset removes
Notice = Callable[[Adds, Account, str, Context, dt.datetime], None]
_MAY_ACT_ON = {"operator": ("customer",), "admin": ("customer", "operator")}


@dataclass(frozen=True)
class EventLine:
    kind: str
    outcome: str
    created_at: UtcTime


@dataclass(frozen=True)
class CompanyLine:
    kind: str  # legal, entrepreneur or individual
    name: str
    inn: str | None
    confirmed: bool


@dataclass(frozen=True)
class ContractLine:
    kind: str  # contract or card
    number: str  # as the cabinet shows it (a card masked)
    linked_at: UtcTime


@dataclass(frozen=True)
class AccountCard:
    id: str
    state: str  # active or blocked
    role: str
    phone: str | None
    phone_confirmed: bool
    email: str | None
    email_confirmed: bool
    login: str | None
    family_name: str | None
    given_name: str | None
    middle_name: str | None
    created_at: UtcTime
    live_sessions: int
    companies: list[CompanyLine]
    contracts: list[ContractLine]
    events: list[EventLine]  # newest first
    level: int = 1  # the level of assurance: 1 «Упрощённая», 2 «Стандартная», 3 «Подтверждённая» (SPEC §4.8)


def may_act_on(staff_id: str, staff_role: str, account: Account) -> bool:
    """An operator acts on customers, an administrator also on operators; nobody on themselves."""
    return account.id != staff_id and account.role in _MAY_ACT_ON.get(staff_role, ())


async def _target(s: AsyncSession, staff_id: str, staff_role: str, account_id: str) -> Account:
    """The account an action is for, if this staff member may act on it."""
    account = await s.get(Account, account_id)
    if account is None or account.state == "deleted":
        raise NotFound("operator.account_not_found")
    if not may_act_on(staff_id, staff_role, account):
        raise Forbidden("operator.not_allowed", code="not_allowed")
    return account


async def erase_second_factors(s: AsyncSession, account_id: str, now: dt.datetime) -> None:
    """TOTP and recovery codes (passkeys have their own eraser: their identifiers go first)."""
    await s.execute(delete(Credential).where(Credential.account_id == account_id,
                                             Credential.type.in_((totp.TYPE, recovery_codes.TYPE))))


async def end_devices(s: AsyncSession, account_id: str, now: dt.datetime) -> None:
    """The passcode («Код для входа») bindings of every device."""
    await devices.revoke(s, account_id, now)


class AccountActions:
    def __init__(self, db: Database, clock: Clock, sessions: SessionService, *,
                 ended: Sequence[Callable[[Sequence[str]], Awaitable[None]]] = (), also: Sequence[Eraser] = (),
                 factors: Sequence[Eraser] = (), notify: Notice | None = None,
                 wake_courier: Callable[[], None] = lambda: None) -> None:
        self._db = db
        self._clock = clock
        self._sessions = sessions
        self._ended = ended  # told of the sessions a block ended (OpenID Connect back-channel logout)
        self._also = also  # run in a block's unit of work: the partners' grants end, offline ones too
        self._factors = factors  # a second-factor reset's erasers: passkeys (their identifiers first), devices
        self._notify = notify  # a notice to the customer's confirmed phone or email
        self._wake_courier = wake_courier  # the notice goes out now, not at the courier's next poll

    async def card(self, staff_id: str, account_id: str, reason: str | None, ctx: Context) -> AccountCard:
        why = operator_reason(reason)
        now = self._clock.now()
        async with self._db.write() as s:
            account = await s.get(Account, account_id)
            if account is None or account.state == "deleted":
                raise NotFound("operator.account_not_found")
            live = (await s.execute(select(func.count()).select_from(Session).where(
                Session.account_id == account_id, Session.revoked_at.is_(None), Session.expires_at > now))).scalar_one()
            events = (await s.execute(
                select(SecurityEvent.kind, SecurityEvent.outcome, SecurityEvent.created_at)
                .where(SecurityEvent.account_id == account_id)
                .order_by(SecurityEvent.created_at.desc(), SecurityEvent.id.desc()).limit(RECENT_EVENTS))).all()
            companies = (await s.execute(select(Company.kind, Company.name, Company.inn, Company.confirmed_at)
                                         .where(Company.account_id == account_id).order_by(Company.created_at))).all()
            contracts = (await s.execute(select(ContractLink.kind, ContractLink.display, ContractLink.created_at)
                                         .where(ContractLink.account_id == account_id)
                                         .order_by(ContractLink.created_at))).all()
            level = await stored_level(s, account_id)
            s.add(entry(staff_id, "view", why, ctx, now, {"account": account_id}))
        return AccountCard(
            id=account.id, state=account.state, role=account.role, phone=account.phone,
            phone_confirmed=account.phone_verified_at is not None, email=account.email,
            email_confirmed=account.email_verified_at is not None, login=account.login,
            family_name=account.family_name, given_name=account.given_name, middle_name=account.middle_name,
            created_at=account.created_at, live_sessions=live,
            companies=[CompanyLine(kind=c.kind, name=c.name, inn=c.inn, confirmed=c.confirmed_at is not None)
                       for c in companies],
            contracts=[ContractLine(kind=c.kind, number=c.display, linked_at=c.created_at) for c in contracts],
            events=[EventLine(kind=e.kind, outcome=e.outcome, created_at=e.created_at) for e in events], level=level)

    async def block(self, staff_id: str, staff_role: str, account_id: str, reason: str | None, ctx: Context) -> None:
        await self._set_state(staff_id, staff_role, account_id, reason, ctx, to=BLOCKED)

    async def unblock(self, staff_id: str, staff_role: str, account_id: str, reason: str | None, ctx: Context) -> None:
        await self._set_state(staff_id, staff_role, account_id, reason, ctx, to="active")

    async def _set_state(self, staff_id: str, staff_role: str, account_id: str, reason: str | None, ctx: Context, *,
                         to: str) -> None:
        why = operator_reason(reason)
        now = self._clock.now()
        source = "active" if to == BLOCKED else BLOCKED
        ended: list[str] = []
        async with self._db.write() as s:
            await _target(s, staff_id, staff_role, account_id)
            changed = await s.execute(update(Account).where(Account.id == account_id, Account.state == source)
                                      .values(state=to, updated_at=now))
            if not changed.rowcount:  # type: ignore[attr-defined]
                raise Conflict("operator.already_blocked" if to == BLOCKED else "operator.already_active", code="conflict")
            if to == BLOCKED:  # the state alone already refuses them; ended, they also leave the list of sessions
                ended = await self._sessions.revoke_all(s, account_id)
                for end in self._also:
                    await end(s, account_id, now)
            blocking = to == BLOCKED
            record_event(s, kind="account_blocked" if blocking else "account_unblocked", outcome="success", ctx=ctx,
                         now=now, account_id=account_id)
            s.add(entry(staff_id, "block" if blocking else "unblock", why, ctx, now, {"account": account_id}))
        for tell in self._ended if ended else ():
            await tell(ended)

    async def reset_second_factor(self, staff_id: str, staff_role: str, account_id: str, reason: str | None,
                                  ctx: Context) -> None:
        """The customer lost the phone with their app, recovery codes and passkeys (recovery never
        bypasses a second factor): TOTP, recovery codes, passkeys and passcode devices go, every
        session ends, and the customer is told.  They sign in with the password and enrol again."""
        why = operator_reason(reason)
        now = self._clock.now()
        async with self._db.write() as s:
            account = await _target(s, staff_id, staff_role, account_id)
            held = (await s.execute(select(Credential.type).where(Credential.account_id == account_id,
                                                                  Credential.type.in_(SECOND_FACTORS)))).first()
            if held is None:
                raise Conflict("operator.no_second_factor")
            for erase in self._factors:
                await erase(s, account_id, now)
            ended = await self._sessions.revoke_all(s, account_id)
            record_event(s, kind="second_factor_reset", outcome="success", ctx=ctx, now=now, account_id=account_id)
            s.add(entry(staff_id, "reset_second_factor", why, ctx, now, {"account": account_id}))
            if self._notify is not None:
                self._notify(s, account, "second_factor_reset", ctx, now)
        self._wake_courier()
        for tell in self._ended if ended else ():
            await tell(ended)

