"""Authentication context class references (OpenID Connect Core §2, ``acr``).

An ``acr`` value says two things a partner needs to decide what to trust:

* the account's **level of assurance** — how well Dostup knows who the person is (1: self-registered,
  phone confirmed; 2: identity document checked; 3: confirmed in person or through Gosuslugi).
  The level is stored (``dostup.accounts.levels``); where levels are on (SPEC §4.8), level 2 is given by
  the verifier of the full profile and level 3 by an operator who saw the documents in person;
* the **session's strength**, NIST SP 800-63B's authenticator assurance level (``aal1``: one factor,
  ``aal2``: two).

Issued values are ``urn:dostup:loa:<level>:aal<aal>``.  A partner may ask with ``acr_values`` (or
register ``--min-level``) either for a level alone (``urn:dostup:loa:2``) or for a full value; the
level part is a requirement (a user below it is refused with ``access_denied``), the ``aal`` part is
voluntary, as OpenID Connect Core §3.1.2.1 makes ``acr_values`` — the ID token says what was done.
"""

from __future__ import annotations

import re

from dostup.accounts import levels
from dostup.persistence.db import Database

PREFIX = "urn:dostup:loa:"
LEVELS = (1, 2, 3)
#: What an account can have without levels; with them (a verifier, and the operators' confirmation), :data:`WITH_VERIFIER`.
REACHABLE_LEVELS = (1,)
WITH_VERIFIER = (1, 2, 3)
_VALUE = re.compile(r"urn:dostup:loa:([1-3])(?::aal([12]))?")


def acr_value(level: int, aal: int) -> str:
    return f"{PREFIX}{level}:aal{min(max(aal, 1), 2)}"


def reachable_levels(verifier: bool) -> tuple[int, ...]:
    return WITH_VERIFIER if verifier else REACHABLE_LEVELS


def issuable_values(reachable: tuple[int, ...] = REACHABLE_LEVELS) -> list[str]:
    """Every ``acr`` Dostup can put in an ID token now (discovery's ``acr_values_supported``)."""
    return [acr_value(level, aal) for level in reachable for aal in (1, 2)]


async def account_level(db: Database, account_id: str) -> int:
    """The account's stored level (1 when none is stored)."""
    return await levels.account_level(db, account_id)


def requested_level(acr_values: str | None) -> int:
    """The lowest level any of the requested values accepts (0: no level asked for or none understood).

    ``acr_values`` lists alternatives in order of preference, so the request is met by the least
    demanding one that Dostup understands.
    """
    levels = [int(m.group(1)) for v in (acr_values or "").split() if (m := _VALUE.fullmatch(v))]
    return min(levels) if levels else 0
