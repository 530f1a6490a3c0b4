"""Linking service contracts and cards to the cabinet (SPEC §4.7; the Rostelecom seed).

Ownership is proven one of two ways: a code sent by SMS to the phone the registry has for the
contract (proof ``"sms"``, the code method), or a secret the customer knows — a PIN or the amount
of the last bill (proof ``"secret"``).  The wire calls the proof ``method``.  Rules:

- **No oracle** (OWASP ASVS 6.3.x, enumeration): an unknown number and a wrong secret give the
  same answer; with the SMS proof an unknown number (or one with no mobile on file) gets the same
  neutral «если договор найден, код отправлен…» answer and a *decoy* flow whose code row can match
  no code, counts tries and expires like a real one.  The decoy even counts against the send limits
  (keyed by the number instead of the phone), so a cool-down answer tells nothing either.  The
  code SMS is not put in the linking account's notification history, which would tell the same.
- **Guessing is slow**: every attempt counts per account and per IP, and secret tries count per
  number as well (a PIN cannot be walked from many accounts).  Bad input is refused before it counts.
- **One contract, one cabinet**: the unique ``contract_links.registry_key`` decides races.  That
  the contract is linked elsewhere is said **only after the proof succeeded**, with the seed's way
  out: restore access to the earlier cabinet («Восстановить доступ»), or call support.
- Card numbers are never whole anywhere: flows, events and messages carry the masked form.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts.contracts import (
    PROOFS,
    ContractRegistry,
    RegistryEntry,
    display_number,
    mask_number,
    normalize_secret,
    number_key,
    parse_kind,
    parse_number,
)
from dostup.accounts.events import record_event
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.crypto import Keyring, random_id
from dostup.core.errors import Conflict, FlowExpired, FormErrors, NotFound, StepNotAllowed, ValidationFailed
from dostup.credentials.codes import CodeView, code_error
from dostup.guards.limits import Limiter, Rule
from dostup.identity.documents import parse_card
from dostup.identity.phone import parse_phone
from dostup.persistence.db import Database
from dostup.persistence.models import Account, Flow
from dostup.persistence.models_contracts import ContractLink
from dostup.selfservice.flows import CodeProof, load_flow, make_flow, transition
from dostup.selfservice.login.flow import LoginInput
from dostup.settings import ContractSettings

KIND = "contract_link"
CODE_SENT = "code_sent"
COMPLETED = "completed"
_LINK_ID = re.compile(r"[0-9a-f]{32}")


class NotMatched(ValidationFailed):
    """Unknown number, wrong secret or no secret on file: one answer for all three."""

    code = "not_matched"
    message_id = "contracts.not_matched"


class LinkedElsewhere(Conflict):
    code = "linked_elsewhere"


class AlreadyLinked(Conflict):
    code = "already_linked"


@dataclass(frozen=True, slots=True)
class LinkInput:
    kind: str | None = None
    number: str | None = None
    method: str | None = "sms"  # the proof of ownership: "sms" | "secret"
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class LinkedContract:
    id: str
    kind: str
    number: str  # as shown: a contract number, or a masked card
    method: str  # the proof of ownership: "sms" | "secret" (a wire field, kept as clients read it)
    created_at: UtcTime


@dataclass(frozen=True, slots=True)
class LinkFlowView:
    """A link waiting for its SMS code.  Says nothing of whether the contract exists."""

    flow_id: str
    state: str
    kind: str
    number: str
    code_expires_at: UtcTime | None
    resend_after_seconds: int
    expires_at: UtcTime


@dataclass(frozen=True, slots=True)
class LinkStarted:
    state: str  # "linked" | "code_sent"
    contract: LinkedContract | None = None
    flow: LinkFlowView | None = None


def _view(link: ContractLink) -> LinkedContract:
    return LinkedContract(link.id, link.kind, link.display, link.method, link.created_at)


def _masked(kind: str, display: str) -> str:
    return display if kind == "card" else mask_number(kind, display)


class OwnershipProof(CodeProof, Protocol):
    """How linking proves, by a code to the phone on file, that the contract is the customer's: the
    code method implements it (``dostup.selfservice.methods.code.contracts``), wired in by
    ``dostup.app``.  An unknown number's flow says ``decoy``: the same step, undeliverable."""


class ContractService:
    def __init__(self, settings: ContractSettings, *, proof: OwnershipProof, registry: ContractRegistry,
                 db: Database, clock: Clock, keyring: Keyring, limiter: Limiter, sms_countries: Sequence[str],
                 support_phone: str) -> None:
        self.settings = settings
        self.proof = proof
        self.registry = registry
        self.db = db
        self.clock = clock
        self.keyring = keyring
        self.limiter = limiter
        self.sms_countries = list(sms_countries)
        self.support_phone = support_phone
        self.per_account = Rule("contract-guess-account", settings.guesses_per_account_per_hour, 3600)
        self.per_ip = Rule("contract-guess-ip", settings.guesses_per_ip_per_hour, 3600)
        self.per_number = Rule("contract-secret-number", settings.secret_tries_per_number_per_hour, 3600)

    # -- reading ----------------------------------------------------------------------------

    async def list(self, account_id: str) -> list[LinkedContract]:
        async with self.db.read() as s:
            rows = (
                await s.execute(
                    select(ContractLink).where(ContractLink.account_id == account_id)
                    .order_by(ContractLink.created_at, ContractLink.id)
                )
            ).scalars().all()
        return [_view(r) for r in rows]

    async def _load(self, account_id: str, flow_id: str | None) -> Flow:
        """The flow if it is this account's; someone else's flow is as unknown as a made-up id."""
        try:
            async with self.db.read() as s:
                flow = await load_flow(s, flow_id, kind=KIND, now=self.clock.now())
        except NotFound:
            raise NotFound("contracts.flow_not_found") from None
        except FlowExpired:
            raise FlowExpired("contracts.flow_expired") from None
        if flow.account_id != account_id:
            raise NotFound("contracts.flow_not_found")
        return flow

    @staticmethod
    def _flow_view(flow: Flow, code: CodeView) -> LinkFlowView:
        return LinkFlowView(
            flow_id=flow.id, state=flow.state, kind=str(flow.data["kind"]), number=str(flow.data["display"]),
            code_expires_at=code.code_expires_at, resend_after_seconds=code.resend_after_seconds,
            expires_at=flow.expires_at,
        )

    async def flow(self, account_id: str, flow_id: str | None) -> LinkFlowView:
        flow = await self._load(account_id, flow_id)
        return self._flow_view(flow, await self.proof.view(flow))

    # -- starting -----------------------------------------------------------------------------

    @staticmethod
    def _parse(inp: LinkInput) -> tuple[str, str, str, str | None]:
        errors: list[ValidationFailed] = []
        kind = number = proof = secret = None
        try:
            kind = parse_kind(inp.kind)
        except ValidationFailed as exc:
            errors.append(exc)
        try:
            number = parse_number(kind or "contract", inp.number)
        except ValidationFailed as exc:
            errors.append(exc)
        proof = (inp.method or "").strip() or "sms"
        if proof not in PROOFS:
            errors.append(ValidationFailed("contracts.method_invalid", field="method"))
        elif proof == "secret":
            try:
                secret = normalize_secret(inp.secret)
            except ValidationFailed as exc:
                errors.append(exc)
        if errors:
            raise errors[0] if len(errors) == 1 else FormErrors(errors)
        assert kind is not None and number is not None
        return kind, number, proof, secret

    async def start(self, account_id: str, inp: LinkInput, ctx: Context) -> LinkStarted:
        """Prove ownership by the secret (linked at once) or start the SMS proof (a flow)."""
        kind, number, proof, secret = self._parse(inp)
        lim = self.limiter
        await lim.hit(self.per_account, account_id, message_id="contracts.too_many")
        await lim.hit(self.per_ip, ctx.ip, message_id="contracts.too_many")
        entry = await self.registry.lookup(kind, number)
        key = entry.key if entry is not None else number_key(self.keyring, kind, number)
        display, masked = display_number(kind, number), mask_number(kind, number)
        if proof == "secret":
            assert secret is not None
            await lim.hit(self.per_number, key, message_id="contracts.too_many")
            if entry is None or not entry.secret_matches(secret):
                if entry is None or not entry.has_secret:
                    self.keyring.mac("contract-secret", key, secret)  # the work of a real comparison
                async with self.db.write() as s:
                    record_event(s, kind="contract_linked", outcome="failure", ctx=ctx, now=self.clock.now(),
                                 account_id=account_id, identifier=masked, method=proof, reason="not_matched")
                raise NotMatched()
            return LinkStarted("linked", contract=await self._link(account_id, key, kind, display, proof, ctx))
        return LinkStarted("code_sent", flow=await self._send(account_id, kind, key, display, masked, entry, ctx))

    def _sms_phone(self, phone: str | None) -> str | None:
        if not phone:
            return None
        try:
            ok = parse_phone(phone).sms_capable(self.sms_countries)
        except ValidationFailed:
            return None
        return phone if ok else None

    async def _send(self, account_id: str, kind: str, key: str, display: str, masked: str,
                    entry: RegistryEntry | None, ctx: Context) -> LinkFlowView:
        phone = self._sms_phone(entry.owner_phone if entry is not None else None)
        data: dict[str, object] = {"kind": kind, "key": key, "display": display, "masked": masked,
                                   "decoy": phone is None, "to": phone or ""}
        now = self.clock.now()
        flow = make_flow(kind=KIND, state=CODE_SENT, data=data, now=now, ttl_seconds=self.settings.flow_ttl_seconds,
                         ip=ctx.ip, account_id=account_id)
        await self.proof.reserve(flow, ctx)
        async with self.db.write() as s:
            s.add(flow)
            code = self.proof.send(s, flow, ctx, now)
        self.proof.sent(flow)
        return self._flow_view(flow, code)

    async def resend(self, account_id: str, flow_id: str | None, ctx: Context) -> LinkFlowView:
        flow = await self._load(account_id, flow_id)
        if flow.state != CODE_SENT:
            raise StepNotAllowed()
        return self._flow_view(flow, await self.proof.resend(flow, ctx))

    # -- confirming ---------------------------------------------------------------------------

    async def confirm(self, account_id: str, flow_id: str | None, code: str | None, ctx: Context) -> LinkedContract:
        flow = await self._load(account_id, flow_id)
        if flow.state != CODE_SENT:
            raise StepNotAllowed()
        value = self.proof.check_format(code)
        data = flow.data
        kind, key, display, masked = str(data["kind"]), str(data["key"]), str(data["display"]), str(data["masked"])
        now = self.clock.now()
        async with self.db.write() as s:
            outcome = await self.proof.verify(s, flow, value, now)  # a decoy's is never "ok"
            if outcome != "ok":
                record_event(s, kind="contract_linked", outcome="failure", ctx=ctx, now=now, account_id=account_id,
                             identifier=masked, method="sms", reason=outcome)
                result: LinkedContract | Conflict | None = None
            else:
                await transition(s, flow, from_state=CODE_SENT, to_state=COMPLETED, now=now)
                result = await self._insert(s, account_id, key, kind, display, "sms", ctx, now)
        if outcome != "ok":
            raise code_error(outcome)
        return self._outcome(result)

    # -- linking ------------------------------------------------------------------------------

    async def _link(self, account_id: str, key: str, kind: str, display: str, proof: str,
                    ctx: Context) -> LinkedContract:
        now = self.clock.now()
        async with self.db.write() as s:
            result = await self._insert(s, account_id, key, kind, display, proof, ctx, now)
        return self._outcome(result)

    def _outcome(self, result: LinkedContract | Conflict | None) -> LinkedContract:
        if isinstance(result, Conflict):
            raise result
        assert result is not None
        return result

    async def _insert(self, s: AsyncSession, account_id: str, key: str, kind: str, display: str, proof: str,
                      ctx: Context, now: dt.datetime) -> LinkedContract | Conflict:
        """Link inside the caller's unit of work; a conflict is returned (and recorded), not raised,
        so that the proof (a used code, a completed flow) is committed all the same."""
        masked = _masked(kind, display)
        link = ContractLink(id=random_id(), account_id=account_id, registry_key=key, kind=kind, display=display,
                            method=proof, created_at=now)
        owner = await self._owner(s, key)
        if owner is None:
            try:
                async with s.begin_nested():
                    s.add(link)
                    await s.flush()
            except IntegrityError:  # linked by someone else a moment ago
                owner = await self._owner(s, key)
        if owner is None:
            record_event(s, kind="contract_linked", outcome="success", ctx=ctx, now=now, account_id=account_id,
                         identifier=masked, method=proof)
            return _view(link)
        record_event(s, kind="contract_linked", outcome="conflict", ctx=ctx, now=now, account_id=account_id,
                     identifier=masked, method=proof)
        if owner == account_id:
            return AlreadyLinked(f"contracts.already_linked.{kind}")
        return LinkedElsewhere(f"contracts.linked_elsewhere.{kind}",
                               params={"support_phone": self.support_phone})

    @staticmethod
    async def _owner(s: AsyncSession, key: str) -> str | None:
        return (
            await s.execute(select(ContractLink.account_id).where(ContractLink.registry_key == key))
        ).scalar_one_or_none()

    # -- registration by card (sber) -----------------------------------------------------------

    async def card_owner(self, card: str) -> str | None:
        """The phone on file for a card in the registry: where the registration code goes."""
        entry = await self.registry.lookup("card", card)
        return entry.owner_phone if entry else None

    async def link_registered_card(self, s: AsyncSession, account_id: str, card: str, ctx: Context,
                                   now: dt.datetime) -> None:
        """Link the card a registration was proven with, in the registration's own transaction.

        The code went to the card's phone on file, so the proof is done; a card already linked
        to another cabinet stops the registration with the seed's conflict message.
        """
        key = number_key(self.keyring, "card", card)
        result = await self._insert(s, account_id, key, "card", display_number("card", card), "sms",
                                    ctx, now)
        if isinstance(result, Conflict):
            raise result

    # -- unlinking ----------------------------------------------------------------------------

    async def unlink(self, account_id: str, link_id: str | None, ctx: Context) -> None:
        """Another account's link is as unknown as a made-up id (SECURITY.md: 404)."""
        if not link_id or not _LINK_ID.fullmatch(link_id):
            raise NotFound("contracts.not_found")
        now = self.clock.now()
        async with self.db.write() as s:
            link = (
                await s.execute(
                    select(ContractLink).where(ContractLink.id == link_id, ContractLink.account_id == account_id)
                )
            ).scalar_one_or_none()
            if link is None:
                raise NotFound("contracts.not_found")
            await s.execute(delete(ContractLink).where(ContractLink.id == link.id))
            record_event(s, kind="contract_unlinked", outcome="success", ctx=ctx, now=now, account_id=account_id,
                         identifier=_masked(link.kind, link.display))


class CardFinder:
    """Sign-in «по номеру карты» (``sber``): the cabinet the card is linked to.

    Implements ``dostup.selfservice.login.flow.IdentifierFinder``; ``parse`` gives the normalised
    card number (the sign-in masks it for its events), ``find`` looks the link up by keyed hash.
    """

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self._db = db
        self._keyring = keyring

    def parse(self, inp: LoginInput) -> str:
        return parse_card(inp.card, field="card")

    async def find(self, value: str) -> Account | None:
        key = number_key(self._keyring, "card", value)
        async with self._db.read() as s:
            return (
                await s.execute(
                    select(Account).join(ContractLink, ContractLink.account_id == Account.id)
                    .where(ContractLink.registry_key == key, ContractLink.kind == "card")
                )
            ).scalar_one_or_none()
