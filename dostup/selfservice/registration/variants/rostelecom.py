"""rostelecom — full name, region, one contact: «Email или номер мобильного»; the password is asked
after the code, and the pages end on «Регистрация завершена» (the seed: «Кликайте „Войти“»)."""

from __future__ import annotations

from dostup.core.errors import ValidationFailed
from dostup.identity.email import parse_email
from dostup.identity.phone import Phone, parse_phone
from dostup.identity.regions import REGIONS
from dostup.selfservice.registration.flow import Plan, RegistrationInput
from dostup.selfservice.registration.forms import Errors, RegistrationForms, consent, name
from dostup.selfservice.registration.variants import Variant, register


class Rostelecom(Variant):
    name = "rostelecom"
    template = "registration_rostelecom.html"
    done_page = True
    taken_field = "contact"

    async def plan(self, inp: RegistrationInput, forms: RegistrationForms) -> Plan:
        errors = Errors()
        profile = {
            "family_name": name(errors, inp.family_name, "family_name"),
            "given_name": name(errors, inp.given_name, "given_name"),
            "middle_name": name(errors, inp.middle_name, "middle_name", required=False),
        }
        region = (inp.region or "").strip()
        if region not in REGIONS:
            errors.add(ValidationFailed("region.invalid" if region else "region.required", field="region",
                                        code="invalid" if region else "required"))
        contact = (inp.contact or "").strip()
        phone = email = None
        if not contact:
            errors.add(ValidationFailed("contact.required", field="contact", code="required"))
        elif "@" in contact:
            email = errors.run(lambda: parse_email(contact, field="contact"))
        else:
            parsed: Phone | None = errors.run(lambda: parse_phone(contact, inp.country, field="contact"))  # type: ignore[assignment]
            if parsed is not None and not forms.sms(parsed):
                errors.add(ValidationFailed("contact.mobile_needed", field="contact"))
            phone = parsed.e164 if parsed else None
        consent(inp, errors)
        errors.raise_if_any()
        profile["region"] = region
        if phone:
            return Plan("sms", phone, phone, None, None, profile)
        return Plan("email", str(email), None, str(email), None, profile)


register(Rostelecom())
