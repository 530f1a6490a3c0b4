"""Registration variants: the form of each preset, one small module each (SPEC §2).

A variant says which page shows its form, how the form is parsed into a :class:`Plan` (where the
code goes, what the account will hold, whether the password comes now or after the code), which
field a taken identifier is reported on, and how the registration ends on the pages.  A preset
names its variant (``Preset.registration``); adding one is a module here that calls
:func:`register`, its preset entry and its catalog texts.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from dostup.selfservice.registration.flow import Plan, RegistrationInput
    from dostup.selfservice.registration.forms import RegistrationForms


class Variant:
    name: ClassVar[str]
    template: ClassVar[str]  # the page with the form
    shows_destination: ClassVar[bool] = True  # False: the code page does not say where the code went
    done_page: ClassVar[bool] = False  # True: «Регистрация завершена» page instead of going on
    email_by_link: ClassVar[bool] = False  # the email is confirmed by a link after registration (gosuslugi)
    taken_field: ClassVar[str | None] = None  # the field a taken phone/email is reported on (None: that one)

    async def plan(self, inp: RegistrationInput, forms: RegistrationForms) -> Plan:
        raise NotImplementedError

    def field_for(self, taken: str) -> str:
        return self.taken_field or taken


_VARIANTS: dict[str, Variant] = {}


def register(variant: Variant) -> Variant:
    _VARIANTS[variant.name] = variant
    return variant


def get_variant(name: str) -> Variant:
    """The registered variant; a built-in one is imported (and so registered) on first use."""
    if name not in _VARIANTS:
        import_module(f"{__name__}.{name}")
    return _VARIANTS[name]
