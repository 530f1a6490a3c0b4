"""sber — the card number only; the code goes to the phone on file for that card in the company's
registry, and the code page does not say where (the card's owner knows).  The password is asked
after the code, and the card is linked to the new cabinet."""

from __future__ import annotations

from dostup.core.errors import ValidationFailed
from dostup.identity.documents import parse_card
from dostup.selfservice.registration.flow import Plan, RegistrationInput
from dostup.selfservice.registration.forms import Errors, RegistrationForms, consent
from dostup.selfservice.registration.variants import Variant, register


class Sber(Variant):
    name = "sber"
    template = "registration_sber.html"
    shows_destination = False
    taken_field = "card"

    async def plan(self, inp: RegistrationInput, forms: RegistrationForms) -> Plan:
        errors = Errors()
        card = errors.run(lambda: parse_card(inp.card))
        consent(inp, errors)
        errors.raise_if_any()
        owner = await forms.card_owner(str(card)) if forms.card_owner else None
        if owner is None and forms.explicit:
            raise ValidationFailed("registration.card_unknown", field="card", code="card_unknown")
        # No oracle (enumeration-safe): an unknown card looks like a known one; its flow can never be completed.
        return Plan("sms", owner or "", owner, None, None, {}, card=str(card))


register(Sber())
