"""Contacts: add, change, confirm and remove the phone and the email (SPEC §4.4).

Rules (the Rostelecom seed: «сменить или удалить телефон/мэйл. Хоть один контакт при этом должен
остаться»; SECURITY.md):

- starting a change or removing a contact needs a sign-in within the last 15 minutes
  (ASVS 6.3.x, NIST 800-63B §4.1.3): a session left open on someone else's computer must not be
  enough to take the account over by swapping its recovery contact;
- the new contact gets a code (SMS to an SMS-capable mobile, email otherwise — for a landline or
  foreign number that is the account's confirmed email) and replaces the old one only when that
  code is confirmed; the code is bound to its purpose and destination;
- at least one confirmed contact always remains, and so does a way to sign in;
- a value used by another account is refused with the seed's way out (recover that cabinet);
  the unique constraint decides races;
- the old contact is told when it is replaced or removed, so a takeover cannot go unnoticed;
- security events carry masked values only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts.events import record_event
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import Conflict, FlowExpired, NotFound, StepNotAllowed, ValidationFailed
from dostup.core.i18n import Catalog
from dostup.core.masking import mask_email, mask_phone
from dostup.courier.outbox import Outbox
from dostup.credentials.codes import CodeView, code_error
from dostup.guards.limits import Limiter, Rule
from dostup.identity import repository as accounts
from dostup.identity.email import parse_email
from dostup.identity.phone import parse_phone
from dostup.persistence.db import Database
from dostup.persistence.models import Account, Flow, NotificationPreference
from dostup.selfservice.flows import load_flow, make_flow, transition
from dostup.selfservice.reauth import ReauthService
from dostup.selfservice.settings import contact_flow as F
from dostup.selfservice.settings.contact_flow import ContactFlowView, ContactInput, ContactProof, ContactsView
from dostup.session.reader import SessionRecord

CHANGES_PER_HOUR = 10


def _mask(contact: str, value: str) -> str:
    return mask_phone(value) if contact == "phone" else mask_email(value)


def _confirmed(account: Account, contact: str) -> bool:
    if contact == "phone":
        return bool(account.phone and account.phone_verified_at)
    return bool(account.email and account.email_verified_at)


class ContactService:
    def __init__(self, *, proof: ContactProof, reauth: ReauthService, db: Database, clock: Clock,
                 limiter: Limiter, outbox: Outbox, catalog: Catalog, sms_countries: Sequence[str],
                 signin_identifiers: Sequence[str], wake_courier: Callable[[], None]) -> None:
        self.proof = proof
        self.reauth = reauth
        self.db = db
        self.clock = clock
        self.limiter = limiter
        self.outbox = outbox
        self.catalog = catalog
        self.sms_countries = list(sms_countries)
        self.signin_identifiers = tuple(signin_identifiers)
        self.wake_courier = wake_courier
        # Per account, before the "taken" check: neither SMS pumping nor probing which numbers
        # have cabinets can go faster than this, and it never touches the owner's send limits.
        self.per_account = Rule("contact-change", CHANGES_PER_HOUR, 3600)

    # -- reading ----------------------------------------------------------------------------

    async def view(self, account_id: str) -> ContactsView:
        now = self.clock.now()
        async with self.db.read() as s:
            account = await accounts.by_id(s, account_id)
            assert account is not None
            flows = (
                await s.execute(
                    select(Flow)
                    .where(Flow.account_id == account_id, Flow.kind == F.KIND, Flow.state == F.CODE_SENT)
                    .where(Flow.expires_at > now)
                    .order_by(Flow.created_at.desc())
                )
            ).scalars().all()
            live = [(f, expires) for f in flows if (expires := await self.proof.expiry(s, f)) is not None]
        pending = [self._flow_view(f, await self.proof.shown(f, expires)) for f, expires in live]
        return ContactsView(
            phone=account.phone, phone_confirmed=_confirmed(account, "phone"),
            email=account.email, email_confirmed=_confirmed(account, "email"),
            pending=pending,
        )

    async def _load(self, account_id: str, flow_id: str | None) -> Flow:
        """The flow if it is this account's; someone else's flow is as unknown as a made-up id."""
        try:
            async with self.db.read() as s:
                flow = await load_flow(s, flow_id, kind=F.KIND, now=self.clock.now())
        except NotFound:
            raise NotFound("contacts.flow_not_found") from None
        except FlowExpired:
            raise FlowExpired("contacts.flow_expired") from None
        if flow.account_id != account_id:
            raise NotFound("contacts.flow_not_found")
        return flow

    @staticmethod
    def _flow_view(flow: Flow, code: CodeView) -> ContactFlowView:
        contact = str(flow.data["contact"])
        return ContactFlowView(
            flow_id=flow.id, state=flow.state, contact=contact, value=_mask(contact, str(flow.data["value"])),
            channel=code.channel, destination=code.destination, code_expires_at=code.code_expires_at,
            resend_after_seconds=code.resend_after_seconds, expires_at=flow.expires_at,
        )

    async def flow(self, account_id: str, flow_id: str | None) -> ContactFlowView:
        flow = await self._load(account_id, flow_id)
        return self._flow_view(flow, await self.proof.view(flow))

    # -- starting a change ------------------------------------------------------------------

    def _parse(self, inp: ContactInput) -> tuple[str, bool]:
        """The normalised value and whether a code can go to it by SMS."""
        if inp.contact == "phone":
            phone = parse_phone(inp.value, inp.country)
            return phone.e164, phone.sms_capable(self.sms_countries)
        if inp.contact == "email":
            return parse_email(inp.value), False
        raise NotFound()

    async def start(self, rec: SessionRecord, inp: ContactInput, ctx: Context) -> ContactFlowView:
        """Check the new contact and send it a code; nothing changes on the account yet."""
        await self.reauth.require_recent(rec)
        contact = inp.contact
        value, sms_capable = self._parse(inp)
        async with self.db.read() as s:
            account = await accounts.by_id(s, rec.account_id)
        assert account is not None
        if getattr(account, contact) == value and (_confirmed(account, contact) or contact == "phone" and not sms_capable):
            raise ValidationFailed("contacts.unchanged", field=contact, code="unchanged")
        await self.limiter.hit(self.per_account, account.id, message_id="code.too_many")
        async with self.db.read() as s:
            other = await (accounts.by_phone(s, value) if contact == "phone" else accounts.by_email(s, value))
        if other is not None and other.id != account.id:
            raise Conflict(f"registration.{contact}_taken", field=contact, code="identifier_taken")
        if contact == "email" or sms_capable:
            channel, to = ("sms" if contact == "phone" else "email"), value
        elif account.email and account.email_verified_at:
            channel, to = "email", account.email  # a landline cannot get an SMS: prove it is you
        else:
            raise ValidationFailed("contacts.phone_needs_email", field="phone", code="email_needed")
        now = self.clock.now()
        data: dict[str, object] = {"contact": contact, "value": value, "channel": channel, "to": to}
        flow = make_flow(kind=F.KIND, state=F.CODE_SENT, data=data, now=now, ttl_seconds=F.FLOW_TTL_SECONDS,
                         ip=ctx.ip, account_id=account.id)
        await self.proof.reserve(flow, ctx)
        async with self.db.write() as s:
            await self.proof.supersede(s, account.id, contact, now)
            s.add(flow)
            code = self.proof.send(s, flow, ctx, now)
        self.proof.sent(flow)
        return self._flow_view(flow, code)

    async def resend(self, rec: SessionRecord, flow_id: str | None, ctx: Context) -> ContactFlowView:
        flow = await self._load(rec.account_id, flow_id)
        if flow.state != F.CODE_SENT:
            raise StepNotAllowed()
        return self._flow_view(flow, await self.proof.resend(flow, ctx))

    # -- confirming ---------------------------------------------------------------------------

    async def confirm(self, rec: SessionRecord, flow_id: str | None, code: str | None, ctx: Context) -> ContactsView:
        """The right code makes the new contact the account's (and confirmed, if the code went there)."""
        account_id = rec.account_id
        flow = await self._load(account_id, flow_id)
        if flow.state != F.CODE_SENT:
            raise StepNotAllowed()
        value = self.proof.check_format(code)
        data = flow.data
        contact, target = str(data["contact"]), str(data["value"])
        now = self.clock.now()
        try:
            async with self.db.write() as s:
                outcome = await self.proof.verify(s, flow, value, now)
                account = await _lock(s, account_id)
                previous = getattr(account, contact)
                kind = "contact_added" if previous is None else "contact_changed"  # (or confirmed as it was)
                if outcome != "ok":
                    record_event(s, kind=kind, outcome="failure", ctx=ctx, now=now, account_id=account_id,
                                 contact=contact, identifier=_mask(contact, target), reason=outcome)
                else:
                    await transition(s, flow, from_state=F.CODE_SENT, to_state=F.COMPLETED, now=now)
                    was_confirmed = _confirmed(account, contact)
                    self._apply(account, contact, target, str(data["channel"]), str(data["to"]), now)
                    await s.flush()
                    detail: dict[str, object] = {"contact": contact, "identifier": _mask(contact, target)}
                    if previous and previous != target:
                        detail["previous"] = _mask(contact, previous)
                        if was_confirmed:
                            self._notify_old(s, account, contact, previous, "changed", now)
                    record_event(s, kind=kind, outcome="success", ctx=ctx, now=now, account_id=account_id, **detail)
        except IntegrityError:
            raise Conflict(f"registration.{contact}_taken", field=contact, code="identifier_taken") from None
        if outcome != "ok":
            raise code_error(outcome)
        self.wake_courier()
        return await self.view(account_id)

    @staticmethod
    def _apply(account: Account, contact: str, target: str, channel: str, to: str, now: dt.datetime) -> None:
        if contact == "email":
            account.email, account.email_verified_at = target, now
        elif channel == "sms":
            account.phone, account.phone_verified_at = target, now
        else:
            # A landline confirmed through the account's email: the number itself is unproven.
            if not (account.email == to and account.email_verified_at):
                raise StepNotAllowed()  # that email was changed or removed meanwhile
            account.phone, account.phone_verified_at = target, None
        account.updated_at = now

    def _notify_old(self, s: AsyncSession, account: Account, contact: str, old: str, action: str,
                    now: dt.datetime) -> None:
        """Tell the contact that is going away (a confirmed one only: it was proven to be the user's)."""
        if contact == "phone":
            try:
                if not parse_phone(old).sms_capable(self.sms_countries):
                    return
            except ValidationFailed:
                return
            channel = "sms"
        else:
            channel = "email"
        locale = account.locale or "ru"
        cat = self.catalog
        self.outbox.enqueue(
            s, kind="contact_changed", channel=channel, to=old, now=now, locale=locale, account_id=account.id,
            params={"contact": cat.text(f"contacts.notice_{contact}", locale),
                    "action": cat.text(f"contacts.notice_{action}", locale)},
        )

    # -- removing -----------------------------------------------------------------------------

    def _signin_remains(self, account: Account, without: str) -> bool:
        """Whether the account keeps an identifier the preset signs in with (phone, login, SNILS …)."""
        return any(kind != without and getattr(account, kind, None) for kind in self.signin_identifiers)

    async def remove(self, rec: SessionRecord, contact: str, ctx: Context) -> ContactsView:
        await self.reauth.require_recent(rec)
        account_id = rec.account_id
        if contact not in F.CONTACTS:
            raise NotFound()
        other = "email" if contact == "phone" else "phone"
        now = self.clock.now()
        async with self.db.write() as s:
            account = await _lock(s, account_id)
            previous = getattr(account, contact)
            if previous is None:
                raise NotFound("contacts.not_set", field=contact)
            if not _confirmed(account, other):
                raise Conflict("contacts.last_confirmed", field=contact, code="last_confirmed_contact")
            if not self._signin_remains(account, contact):
                raise Conflict("contacts.last_signin", field=contact, code="last_signin_method")
            was_confirmed = _confirmed(account, contact)
            setattr(account, contact, None)
            setattr(account, f"{contact}_verified_at", None)
            account.updated_at = now
            if was_confirmed:
                self._notify_old(s, account, contact, previous, "removed", now)
            record_event(s, kind="contact_removed", outcome="success", ctx=ctx, now=now, account_id=account_id,
                         contact=contact, identifier=_mask(contact, previous))
        self.wake_courier()
        return await self.view(account_id)


async def _lock(s: AsyncSession, account_id: str) -> Account:
    """The account row, locked until the unit of work ends (PostgreSQL; SQLite writers are serial).

    Removing the phone and removing the email at the same moment must not both see "the other one
    remains": the second waits for the first and then sees it gone.
    """
    account = (
        await s.execute(select(Account).where(Account.id == account_id).with_for_update())
    ).scalar_one_or_none()
    assert account is not None
    return account


async def erase_settings(db: AsyncSession, account_id: str, now: dt.datetime) -> None:
    """Account deletion's eraser for what settings hold: contact changes in progress carry the new
    phone or email in their flow data, and the notification choices go with the account."""
    await db.execute(delete(Flow).where(Flow.account_id == account_id, Flow.kind == F.KIND))
    await db.execute(delete(NotificationPreference).where(NotificationPreference.account_id == account_id))
