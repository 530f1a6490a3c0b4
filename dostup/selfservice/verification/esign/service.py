"""«Подтверждённая учётная запись» by a qualified electronic signature (SPEC §4.8; the gosuslugi seed:
«С помощью … усиленной квалифицированной электронной подписи (УКЭП) … необходимо выбрать электронную подпись
в качестве способа проверки, ввести PIN-код и подписать заявление на подтверждение учётной записи»).

* :meth:`SignatureService.start` — a «Стандартная» account gets the statement to sign («Заявление на
  подтверждение учётной записи»: the account, the person's names and SNILS, the time and a fresh random
  number), kept in a persisted flow (``flows``, kind ``esign``) that lives ``esign_statement_minutes`` (30).
* :meth:`SignatureService.sign` — the detached CMS signature of the statement (base64).  The flow is read,
  the signature checked by the configured :class:`~.check.SignatureCheck` **outside** any unit of work (it
  may be a network call), and then, in one unit of work with the flow's row locked, the flow is taken
  (``started`` → ``signed``: single use, of two racing submissions one wins), the certificate's SNILS,
  surname and «Имя Отчество» compared with the profile (case- and ё/е-insensitively), the level raised
  2 → 3 by a guarded UPDATE, a waiting registered letter cancelled, the security event and the customer's
  notice written.  A refusal writes only its counted try and its event (committed before the error is
  raised); the fifth refused signature ends the statement.  A signer who is someone else is a security
  event of its own (``esign_other_person``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts import levels as L
from dostup.accounts.events import record_event
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.crypto import random_token
from dostup.core.errors import Conflict, DostupError, FlowExpired, NotFound, ValidationFailed
from dostup.identity.documents import format_snils
from dostup.persistence.db import Database
from dostup.persistence.models import Account, Flow
from dostup.persistence.models_levels import IdentityProfile
from dostup.selfservice.flows import checked_id, new_flow, within_live_limit
from dostup.selfservice.notices import AccountNotice as Notice
from dostup.selfservice.verification.esign.check import SignatureCheck, Signer, refused

KIND, STARTED, SIGNED, EXHAUSTED = "esign", "started", "signed", "exhausted"
MAX_TRIES = 5  # refused signatures a statement takes
MAX_LIVE = 5  # statements waiting to be signed, per account (each is a row naming the person)
MAX_SIGNATURE = 48_000  # characters of base64: a signature with a chain of four certificates is about 8,000
TITLE = "Заявление на подтверждение учётной записи"
_ARMOUR = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")


@dataclass(frozen=True, slots=True)
class Statement:
    flow_id: str
    text: str  # sign exactly these UTF-8 bytes
    expires_at: UtcTime


@dataclass(frozen=True, slots=True)
class SignatureView:
    level: str  # the account's level (dostup.accounts.levels.LEVELS)
    may_start: bool  # «Стандартная»: a statement may be asked for
    statement: Statement | None = None  # the statement of ``?flow=``, while it may be signed


@dataclass(frozen=True, slots=True)
class Confirmed:
    level: str  # "confirmed"
    level_number: int
    certificate_serial: str
    certificate_issuer: str


def parse_signature(raw: str | None) -> bytes:
    """The signature as pasted: base64 (line breaks and a PEM armour allowed) of the DER CMS."""
    text = (raw or "").strip()
    if not text:
        raise ValidationFailed("esign.signature_required", field="signature", code="required")
    if len(text) > MAX_SIGNATURE:
        raise ValidationFailed("esign.signature_too_long", field="signature", code="too_long",
                               params={"max": MAX_SIGNATURE})
    compact = "".join(_ARMOUR.sub("", text).split())
    try:
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        der = b""
    if not der:
        raise ValidationFailed("esign.bad_base64", field="signature", code="bad_base64")
    return der


def statement_text(*, product: str, account: Account, nonce: str, now: dt.datetime) -> str:
    names = " ".join(n for n in (account.family_name, account.given_name, account.middle_name) if n)
    return (f"{TITLE.upper()}\n\n"
            f"Я, {names}, СНИЛС {format_snils(account.snils or '')}, прошу подтвердить мою учётную запись "
            f"в «{product}» (идентификатор учётной записи: {account.id}) с помощью усиленной квалифицированной "
            f"электронной подписи.\n\n"
            f"Дата и время составления: {now:%d.%m.%Y %H:%M} UTC\n"
            f"Номер заявления: {nonce}\n")


def _norm(value: str | None) -> str:
    return " ".join((value or "").casefold().replace("ё", "е").split())


def same_person(signer: Signer, account: Account) -> bool:
    """The certificate's SNILS equals the profile's, its surname (SN) the family name and its given name (G:
    «Имя Отчество» in Russian certificates) the given and middle names."""
    given = " ".join(n for n in (account.given_name, account.middle_name) if n)
    return (signer.snils == (account.snils or "") and _norm(signer.surname) == _norm(account.family_name)
            and _norm(signer.given_name) == _norm(given))


class SignatureService:
    def __init__(self, *, db: Database, clock: Clock, check: SignatureCheck | None, notify: Notice,
                 wake_courier: Callable[[], None], enabled: bool, product: str, minutes: int) -> None:
        self._db = db
        self._clock = clock
        self._check = check
        self._notify = notify
        self._wake = wake_courier
        self.enabled = enabled and check is not None  # levels on and a check configured; otherwise 404
        self._product = product
        self._ttl = minutes * 60

    def _on(self) -> SignatureCheck:
        if not self.enabled or self._check is None:
            raise NotFound()
        return self._check

    async def view(self, account_id: str, flow_id: str | None = None) -> SignatureView:
        self._on()
        now = self._clock.now()
        async with self._db.read() as s:
            level = await L.stored_level(s, account_id)
            statement = None
            if flow_id and level == L.STANDARD:
                try:
                    statement = _statement(await self._live(s, account_id, flow_id, now))
                except DostupError:
                    statement = None
        return SignatureView(L.level_name(level), level == L.STANDARD, statement)

    async def start(self, account_id: str, ctx: Context) -> Statement:
        """A new statement to sign (a «Стандартная» account only: 409 ``not_standard`` otherwise; at most
        :data:`MAX_LIVE` waiting at once: 429 until the oldest expires)."""
        self._on()
        now = self._clock.now()
        async with self._db.write() as s:
            account = await s.get(Account, account_id, with_for_update=True)  # racing starts are counted in turn
            if account is None or await L.stored_level(s, account_id) != L.STANDARD or not account.snils:
                raise Conflict("esign.not_standard", code="not_standard")
            await within_live_limit(s, account_id, kind=KIND, state=STARTED, now=now, limit=MAX_LIVE,
                                    message_id="esign.too_many")
            text = statement_text(product=self._product, account=account, nonce=random_token(12), now=now)
            flow = new_flow(s, kind=KIND, state=STARTED, data={"statement": text, "tries": 0}, now=now,
                            ttl_seconds=self._ttl, ip=ctx.ip, account_id=account_id)
            await s.flush()
            return _statement(flow)

    async def statement(self, account_id: str, flow_id: str | None) -> Statement:
        """The statement of a live flow of the account's (404 another's or unknown, 410 expired, 409 used)."""
        self._on()
        async with self._db.read() as s:
            return _statement(await self._live(s, account_id, flow_id, self._clock.now()))

    @staticmethod
    async def _live(s: AsyncSession, account_id: str, flow_id: str | None, now: dt.datetime, *,
                    lock: bool = False) -> Flow:
        try:
            fid = checked_id(flow_id)
        except NotFound:
            raise NotFound("esign.not_found") from None
        flow = await s.get(Flow, fid, with_for_update=lock)
        if flow is None or flow.kind != KIND or flow.account_id != account_id:
            raise NotFound("esign.not_found")
        if flow.state == SIGNED:
            raise Conflict("esign.used", code="statement_used")
        if flow.state != STARTED:
            raise Conflict("esign.exhausted", code="statement_exhausted")
        if flow.expires_at <= now:
            raise FlowExpired("esign.expired")
        return flow

    async def sign(self, account_id: str, flow_id: str | None, signature: str | None, ctx: Context) -> Confirmed:
        """The signed statement: the signer's certificate must be the profile's person (see the module)."""
        check = self._on()
        der = parse_signature(signature)
        now = self._clock.now()
        async with self._db.read() as s:
            flow = await self._live(s, account_id, flow_id, now)
            if await L.stored_level(s, account_id) != L.STANDARD:
                raise Conflict("esign.not_standard", code="not_standard")
            content = str(flow.data["statement"]).encode()
        signer: Signer | None = None
        failure: ValidationFailed | None = None
        try:
            signer = await check.check(content, der, now)  # no unit of work open: it may be a network call
        except ValidationFailed as exc:
            failure = exc
        async with self._db.write() as s:
            flow = await self._live(s, account_id, flow.id, now, lock=True)  # taken meanwhile: 409
            account = await s.get(Account, account_id)
            assert account is not None
            if signer is not None and failure is None and not (signer.snils and signer.surname and signer.given_name):
                failure = refused("no_person")
            if signer is not None and failure is None and not same_person(signer, account):
                failure = ValidationFailed("esign.other_person", field="signature", code="other_person")
                record_event(s, kind="esign_other_person", outcome="failure", ctx=ctx, now=now, account_id=account_id,
                             verifier=check.name, certificate=signer.serial, issuer=signer.issuer)
            if failure is not None:
                self._refused(s, flow, failure, check.name, ctx, now)
            else:
                assert signer is not None
                await self._confirm(s, flow, account, signer, check.name, ctx, now)
        if failure is not None:  # the try and its event are committed; now say what was wrong
            raise failure
        self._wake()
        assert signer is not None
        return Confirmed(L.level_name(L.CONFIRMED), L.CONFIRMED, signer.serial, signer.issuer)

    @staticmethod
    def _refused(s: AsyncSession, flow: Flow, failure: ValidationFailed, verifier: str, ctx: Context,
                 now: dt.datetime) -> None:
        tries = int(str(flow.data.get("tries", 0))) + 1
        flow.data = {**flow.data, "tries": tries}
        flow.updated_at = now
        if tries >= MAX_TRIES:
            flow.state = EXHAUSTED
        if failure.message_id != "esign.other_person":
            record_event(s, kind="esign_refused", outcome="failure", ctx=ctx, now=now, account_id=flow.account_id,
                         verifier=verifier, reason=failure.code)

    async def _confirm(self, s: AsyncSession, flow: Flow, account: Account, signer: Signer, verifier: str,
                       ctx: Context, now: dt.datetime) -> None:
        taken = await s.execute(update(Flow).where(Flow.id == flow.id, Flow.state == STARTED)
                                .values(state=SIGNED, updated_at=now).execution_options(synchronize_session=False))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("esign.used", code="statement_used")
        raised = await s.execute(update(IdentityProfile).where(IdentityProfile.account_id == account.id,
                                                               IdentityProfile.level == L.STANDARD)
                                 .values(level=L.CONFIRMED, level_changed_at=now, updated_at=now)
                                 .execution_options(synchronize_session=False))
        if raised.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("esign.not_standard", code="not_standard")  # rolls the flow's move back too
        await L.cancel_pending(s, account.id, now)  # a letter still waiting with its code is not needed now
        record_event(s, kind="esign_confirmed", outcome="success", ctx=ctx, now=now, account_id=account.id,
                     verifier=verifier, certificate=signer.serial, issuer=signer.issuer,
                     **({"revocation": signer.revocation} if signer.revocation else {}))
        if account.state == "active":
            self._notify(s, account, "identity_confirmed_esign", ctx, now)


async def erase_statements(s: AsyncSession, account_id: str, now: dt.datetime) -> None:
    """An ``Eraser`` for account deletion: the statements name the person and the SNILS."""
    await s.execute(delete(Flow).where(Flow.account_id == account_id, Flow.kind == KIND))


def _statement(flow: Flow) -> Statement:
    return Statement(flow.id, str(flow.data["statement"]), flow.expires_at)
