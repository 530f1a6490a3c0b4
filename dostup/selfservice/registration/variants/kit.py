"""kit — phone (+ email for a landline or foreign number), password twice, segment, consents; the
code goes by SMS to a mobile, else to the email."""

from __future__ import annotations

from dostup.core.errors import ValidationFailed
from dostup.identity.email import parse_email
from dostup.identity.phone import Phone, parse_phone
from dostup.selfservice.registration.flow import Plan, RegistrationInput
from dostup.selfservice.registration.forms import Errors, RegistrationForms, consent
from dostup.selfservice.registration.variants import Variant, register


class Kit(Variant):
    name = "kit"
    template = "registration.html"

    async def plan(self, inp: RegistrationInput, forms: RegistrationForms) -> Plan:
        errors = Errors()
        phone: Phone | None = errors.run(lambda: parse_phone(inp.phone, inp.country))  # type: ignore[assignment]
        needs_email = phone is not None and not forms.sms(phone)
        email: str | None = None
        if inp.email or needs_email:
            try:
                email = parse_email(inp.email)
            except ValidationFailed as e:
                if needs_email and e.code == "required":
                    e = ValidationFailed("registration.email_needed", field="email", code="required")
                errors.add(e)
        password = forms.password(inp.password, inp.password_repeat, (phone.e164 if phone else "", email or ""),
                                  errors)
        segment = (inp.segment or forms.segments[0]) if forms.segments else None
        if forms.segments and segment not in forms.segments:
            errors.add(ValidationFailed("segment.invalid", field="segment"))
        consent(inp, errors)
        errors.raise_if_any()
        assert phone is not None
        channel, to = ("sms", phone.e164) if forms.sms(phone) else ("email", str(email))
        return Plan(channel, to, phone.e164, email, password, {}, segment=segment)


register(Kit())
