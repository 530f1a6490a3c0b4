"""gosuslugi — surname, name, mobile, email; the code goes by SMS, the email is confirmed later by
a link, and the password is asked after the code."""

from __future__ import annotations

from dostup.core.errors import ValidationFailed
from dostup.identity.email import parse_email
from dostup.identity.phone import Phone, parse_phone
from dostup.selfservice.registration.flow import Plan, RegistrationInput
from dostup.selfservice.registration.forms import Errors, RegistrationForms, consent, name
from dostup.selfservice.registration.variants import Variant, register


class Gosuslugi(Variant):
    name = "gosuslugi"
    template = "registration_gosuslugi.html"
    email_by_link = True

    async def plan(self, inp: RegistrationInput, forms: RegistrationForms) -> Plan:
        errors = Errors()
        profile = {
            "family_name": name(errors, inp.family_name, "family_name"),
            "given_name": name(errors, inp.given_name, "given_name"),
        }
        phone: Phone | None = errors.run(lambda: parse_phone(inp.phone, inp.country))  # type: ignore[assignment]
        if phone is not None and not forms.sms(phone):
            errors.add(ValidationFailed("contact.mobile_needed", field="phone"))
        email = errors.run(lambda: parse_email(inp.email))
        consent(inp, errors)
        errors.raise_if_any()
        assert phone is not None
        return Plan("sms", phone.e164, phone.e164, str(email), None, profile, confirm_email_by_link=self.email_by_link)


register(Gosuslugi())
