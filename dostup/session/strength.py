"""How a session was authenticated: assurance level, methods used, and what it may not do yet.

NIST SP 800-63B §4 defines the authenticator assurance levels: ``aal1`` is one factor, ``aal2``
two factors (or one multi-factor authenticator, such as a passkey with user verification).
``amr`` lists the methods used, with RFC 8176 values (``pwd``, ``sms``, ``otp``, ``hwk``,
``swk``, ``user``, ``pin``, ``mfa``) so the OpenID Connect provider can pass them on as they are.

A sign-in at another identity provider (social sign-in) is ``fed``.  RFC 8176's registry has no
value for "authenticated by a federated identity provider", and §2 lets parties agree on values
beyond it; ``fed`` is the value Microsoft's identity platform puts in its tokens for that, so
partners that already read ``amr`` may know it.  Dostup does not pass on the upstream provider's own
``amr``: it cannot vouch for how that provider checked the person, only that the provider did; nor
does it map the sign-in to ``pwd`` or ``otp``, which would claim a method Dostup never saw.  The
OpenID Connect provider lists every value it may issue in discovery (``amr_values_supported``,
:data:`AMR_VALUES`), and ``acr`` carries the level (``urn:dostup:loa:1:aal1`` for ``fed`` alone).
``fed`` is a factor of its own kind, so with a TOTP code it is ``aal2`` (``fed otp mfa``).

A *restriction* limits what a session may do until a step is taken: ``password_change`` is the
session of a temporary recovery password (SECURITY.md: it may only set a new password).  Every
check of "may this session use the cabinet" goes through :func:`is_unrestricted`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

PASSWORD_CHANGE = "password_change"  # noqa: S105 - a restriction's name, not a secret

#: Every ``amr`` value a session (and so an ID token) can carry: RFC 8176 §2 values, and ``fed``.
AMR_VALUES = frozenset({"pwd", "sms", "otp", "hwk", "swk", "user", "pin", "mfa", "fed"})


@dataclass(frozen=True, slots=True)
class Strength:
    """What a proof (or several) established; carried by a session from its issue."""

    aal: int = 1
    amr: tuple[str, ...] = ("pwd",)
    restrictions: frozenset[str] = field(default_factory=frozenset)

    def combined(self, other: Strength) -> Strength:
        """This strength after a further proof (a second factor, a step-up).

        The level is the higher of the two, raised to 2 when two different kinds of factor
        were used; a restriction is lifted only by the step that ends it, never by stepping up.
        """
        amr = _merge(self.amr, other.amr)
        aal = max(self.aal, other.aal)
        if aal < 2 and _distinct_factors(amr) >= 2:
            aal = 2
        if aal >= 2 and "mfa" not in amr and _distinct_factors(amr) >= 2:
            amr = (*amr, "mfa")
        return Strength(aal, amr, self.restrictions | other.restrictions)

    def lifted(self, restriction: str) -> Strength:
        return Strength(self.aal, self.amr, self.restrictions - {restriction})

    # The stored form: one small string column each, read by the session reader in its one SELECT.
    def amr_text(self) -> str:
        return " ".join(self.amr)

    def restrictions_text(self) -> str:
        return " ".join(sorted(self.restrictions))


_FACTOR_OF = {"pwd": "know", "pin": "know", "kba": "know", "sms": "have", "otp": "have", "hwk": "have",
              "swk": "have", "user": "are", "fed": "fed"}


def _distinct_factors(amr: Iterable[str]) -> int:
    return len({_FACTOR_OF[m] for m in amr if m in _FACTOR_OF})


def _merge(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*a, *b)))


def parse(aal: int, amr: str | None, restrictions: str | None) -> Strength:
    return Strength(int(aal), tuple((amr or "").split()), frozenset((restrictions or "").split()))


class HasStrength(Protocol):
    @property
    def strength(self) -> Strength: ...


def is_unrestricted(rec: HasStrength) -> bool:
    """May this session use the cabinet (no pending step such as a forced password change)?"""
    return not rec.strength.restrictions


PASSWORD = Strength(1, ("pwd",))
FEDERATED = Strength(1, ("fed",))


def state_name(strength: Strength) -> str:
    """The session's state as the JSON API reports it: ``active`` or the pending step's name."""
    return PASSWORD_CHANGE if PASSWORD_CHANGE in strength.restrictions else "active"
