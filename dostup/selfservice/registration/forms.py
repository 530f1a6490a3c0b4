"""What every registration form shares: collecting field errors, the consent, names, the password
twice, and the tools a variant's parsing needs (SPEC §2).

The form of each preset is a variant (:mod:`dostup.selfservice.registration.variants`);
:class:`RegistrationForms` hands a submitted form to the preset's variant.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from dostup.core.errors import FormErrors, ValidationFailed
from dostup.credentials.password import PasswordPolicy
from dostup.identity.names import parse_name
from dostup.identity.phone import Phone
from dostup.selfservice.registration.flow import Plan, RegistrationInput
from dostup.selfservice.registration.variants import Variant

CardOwner = Callable[[str], Awaitable[str | None]]
"""Phone on file (E.164) for a card number in the company's registry, or None."""


class Errors:
    """Field errors of one form, all reported at once."""

    def __init__(self) -> None:
        self.items: list[ValidationFailed] = []

    def run(self, fn: Callable[[], object]) -> object:
        try:
            return fn()
        except ValidationFailed as e:
            self.items.append(e)
            return None

    def add(self, error: ValidationFailed) -> None:
        self.items.append(error)

    def raise_if_any(self) -> None:
        if self.items:
            raise FormErrors(self.items)


def consent(inp: RegistrationInput, errors: Errors) -> None:
    if not inp.consent_personal_data:
        errors.add(ValidationFailed("consent.required", field="consent_personal_data", code="required"))


def name(errors: Errors, raw: str | None, field: str, required: bool = True) -> str | None:
    value: str | None = errors.run(lambda: parse_name(raw, field=field))  # type: ignore[assignment]
    if value is None and required and not any(e.field == field for e in errors.items):
        errors.add(ValidationFailed("name.required", field=field, code="required"))
    return value


class RegistrationForms:
    """The tools a variant's form parsing uses, and the variant itself."""

    def __init__(self, variant: Variant, *, policy: PasswordPolicy, sms_countries: Sequence[str],
                 segments: Sequence[str] = (), card_owner: CardOwner | None = None,
                 explicit: bool = True) -> None:
        self.variant = variant
        self.policy = policy
        self.sms_countries = list(sms_countries)
        self.segments = list(segments)
        self.card_owner = card_owner
        self.explicit = explicit  # not enumeration-safe: an unknown card is said to be unknown

    def sms(self, phone: Phone) -> bool:
        return phone.sms_capable(self.sms_countries)

    def without_password(self) -> RegistrationForms:
        """The same form with no password asked (a registration through a provider)."""
        forms = RegistrationForms(self.variant, policy=self.policy, sms_countries=self.sms_countries,
                                  segments=self.segments, card_owner=self.card_owner)
        forms.passwordless = True
        return forms

    passwordless = False

    def password(self, raw: str | None, repeat: str | None, personal: tuple[str, ...], errors: Errors) -> str:
        if self.passwordless:
            return ""
        password = errors.run(lambda: self.policy.validate(raw, personal=personal))
        if password is not None and (repeat or "") != (raw or ""):
            errors.add(ValidationFailed("password.mismatch", field="password_repeat", code="mismatch"))
        return str(password or "")

    async def plan(self, inp: RegistrationInput) -> Plan:
        return await self.variant.plan(inp, self)
