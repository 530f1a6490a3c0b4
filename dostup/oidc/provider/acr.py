"""Authentication context class references (OpenID Connect Core §2, ``acr``).

An ``acr`` value says two things a partner needs to decide what to trust:

* the account's **level of assurance** — how well Dostup knows who the person is (1: self-registered,
  phone confirmed; 2: identity document checked; 3: confirmed in person or through Gosuslugi).
  Every account is at level 1 until a later issue builds the others;
* the **session's strength**, NIST SP 800-63B's authenticator assurance level (``aal1``: one factor,
  ``aal2``: two).

Issued values are ``urn:dostup:loa:<level>:aal<aal>``.  A partner may ask with ``acr_values`` (or
register ``--min-level``) either for a level alone (``urn:dostup:loa:2``) or for a full value; the
level part is a requirement (a user below it is refused with ``access_denied``), the ``aal`` part is
voluntary, as OpenID Connect Core §3.1.2.1 makes ``acr_values`` — the ID token says what was done.
"""

from __future__ import annotations

import re

PREFIX = "urn:dostup:loa:"
LEVELS = (1, 2, 3)
#: What an account can have today (issue 12: the other levels come later).
REACHABLE_LEVELS = (1,)
_VALUE = re.compile(r"urn:dostup:loa:([1-3])(?::aal([12]))?")


def acr_value(level: int, aal: int) -> str:
    return f"{PREFIX}{level}:aal{min(max(aal, 1), 2)}"


def issuable_values() -> list[str]:
    """Every ``acr`` Dostup can put in an ID token now (discovery's ``acr_values_supported``)."""
    return [acr_value(level, aal) for level in REACHABLE_LEVELS for aal in (1, 2)]


def account_level(_account_id: str) -> int:
    """Every account is at the first level until identity checks exist (issue 12 §1)."""
    return 1


def requested_level(acr_values: str | None) -> int:
    """The lowest level any of the requested values accepts (0: no level asked for or none understood).

    ``acr_values`` lists alternatives in order of preference, so the request is met by the least
    demanding one that Dostup understands.
    """
    levels = [int(m.group(1)) for v in (acr_values or "").split() if (m := _VALUE.fullmatch(v))]
    return min(levels) if levels else 0
