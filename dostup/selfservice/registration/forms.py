"""The registration form of each preset (SPEC §2): field checks and the resulting :class:`Plan`.

kit — phone (+ email for a landline/foreign number), password twice, segment, consents;
rostelecom — full name, region, one contact: email **or** mobile;
gosuslugi — surname, name, mobile, email (the email is confirmed later by a link);
sber — card number; the code goes to the phone on file for that card in the registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dostup.core.errors import FormErrors, ValidationFailed
from dostup.identity.documents import parse_card
from dostup.identity.email import parse_email
from dostup.identity.names import parse_name
from dostup.identity.phone import Phone, parse_phone
from dostup.identity.regions import REGIONS
from dostup.selfservice.deps import FlowDeps
from dostup.selfservice.registration.flow import Plan, RegistrationInput

CardOwner = Callable[[str], Awaitable[str | None]]
"""Phone on file (E.164) for a card number in the company's registry, or None."""


class _Errors:
    def __init__(self) -> None:
        self.items: list[ValidationFailed] = []

    def run(self, fn: Callable[[], object]) -> object:
        try:
            return fn()
        except ValidationFailed as e:
            self.items.append(e)
            return None

    def raise_if_any(self) -> None:
        if self.items:
            raise FormErrors(self.items)


def _consent(inp: RegistrationInput, errors: _Errors) -> None:
    if not inp.consent_personal_data:
        errors.items.append(ValidationFailed("consent.required", field="consent_personal_data", code="required"))


def _name(errors: _Errors, raw: str | None, field: str, required: bool = True) -> str | None:
    value: str | None = errors.run(lambda: parse_name(raw, field=field))  # type: ignore[assignment]
    if value is None and required and not any(e.field == field for e in errors.items):
        errors.items.append(ValidationFailed("name.required", field=field, code="required"))
    return value


class RegistrationForms:
    def __init__(self, deps: FlowDeps, card_owner: CardOwner | None = None) -> None:
        self.d = deps
        self.card_owner = card_owner

    def _sms(self, phone: Phone) -> bool:
        return phone.sms_capable(self.d.settings.codes.sms_countries)

    def password(self, raw: str | None, repeat: str | None, personal: tuple[str, ...], errors: _Errors) -> str:
        password = errors.run(lambda: self.d.policy.validate(raw, personal=personal))
        if password is not None and (repeat or "") != (raw or ""):
            errors.items.append(ValidationFailed("password.mismatch", field="password_repeat", code="mismatch"))
        return str(password or "")

    async def plan(self, inp: RegistrationInput) -> Plan:
        variant = self.d.preset.registration
        if variant == "rostelecom":
            return self._rostelecom(inp)
        if variant == "gosuslugi":
            return self._gosuslugi(inp)
        if variant == "sber":
            return await self._sber(inp)
        return self._kit(inp)

    def _kit(self, inp: RegistrationInput) -> Plan:
        errors = _Errors()
        phone: Phone | None = errors.run(lambda: parse_phone(inp.phone, inp.country))  # type: ignore[assignment]
        needs_email = phone is not None and not self._sms(phone)
        email: str | None = None
        if inp.email or needs_email:
            try:
                email = parse_email(inp.email)
            except ValidationFailed as e:
                if needs_email and e.code == "required":
                    e = ValidationFailed("registration.email_needed", field="email", code="required")
                errors.items.append(e)
        password = self.password(inp.password, inp.password_repeat, (phone.e164 if phone else "", email or ""), errors)
        segments = [s.id for s in self.d.preset.segments]
        segment = (inp.segment or segments[0]) if segments else None
        if segments and segment not in segments:
            errors.items.append(ValidationFailed("segment.invalid", field="segment"))
        _consent(inp, errors)
        errors.raise_if_any()
        assert phone is not None
        channel, to = ("sms", phone.e164) if self._sms(phone) else ("email", str(email))
        return Plan(channel, to, phone.e164, email, password, {}, segment=segment)

    def _rostelecom(self, inp: RegistrationInput) -> Plan:
        errors = _Errors()
        profile = {
            "family_name": _name(errors, inp.family_name, "family_name"),
            "given_name": _name(errors, inp.given_name, "given_name"),
            "middle_name": _name(errors, inp.middle_name, "middle_name", required=False),
        }
        region = (inp.region or "").strip()
        if region not in REGIONS:
            errors.items.append(ValidationFailed("region.invalid" if region else "region.required", field="region",
                                                 code="invalid" if region else "required"))
        contact = (inp.contact or "").strip()
        phone = email = None
        if not contact:
            errors.items.append(ValidationFailed("contact.required", field="contact", code="required"))
        elif "@" in contact:
            email = errors.run(lambda: parse_email(contact, field="contact"))
        else:
            parsed: Phone | None = errors.run(lambda: parse_phone(contact, inp.country, field="contact"))  # type: ignore[assignment]
            if parsed is not None and not self._sms(parsed):
                errors.items.append(ValidationFailed("contact.mobile_needed", field="contact"))
            phone = parsed.e164 if parsed else None
        _consent(inp, errors)
        errors.raise_if_any()
        profile["region"] = region
        if phone:
            return Plan("sms", phone, phone, None, None, profile)
        return Plan("email", str(email), None, str(email), None, profile)

    def _gosuslugi(self, inp: RegistrationInput) -> Plan:
        errors = _Errors()
        profile = {
            "family_name": _name(errors, inp.family_name, "family_name"),
            "given_name": _name(errors, inp.given_name, "given_name"),
        }
        phone: Phone | None = errors.run(lambda: parse_phone(inp.phone, inp.country))  # type: ignore[assignment]
        if phone is not None and not self._sms(phone):
            errors.items.append(ValidationFailed("contact.mobile_needed", field="phone"))
        email = errors.run(lambda: parse_email(inp.email))
        _consent(inp, errors)
        errors.raise_if_any()
        assert phone is not None
        return Plan("sms", phone.e164, phone.e164, str(email), None, profile, confirm_email_by_link=True)

    async def _sber(self, inp: RegistrationInput) -> Plan:
        errors = _Errors()
        card = errors.run(lambda: parse_card(inp.card))
        _consent(inp, errors)
        errors.raise_if_any()
        owner = await self.card_owner(str(card)) if self.card_owner else None
        if owner is None:
            # No oracle: an unknown card looks like a known one; its flow can never be completed.
            return Plan("sms", "", None, None, None, {}, card=str(card))
        return Plan("sms", owner, owner, None, None, {}, card=str(card))
