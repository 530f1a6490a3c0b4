"""The code of «Подтверждённая учётная запись» sent by registered letter (SPEC §4.8: «a code sent by
registered letter (operator's print queue, long expiry)»; the gosuslugi seed: «закажите код подтверждения
через «Почту России» … нужно указать адрес, на который будет отправлено письмо. Среднее время доставки —
две недели»).  Shared by the customer's use-cases (``dostup.selfservice.verification.letter``) and the
operators' print queue (``dostup.admin.letters``): the postal address, the code and how a letter is kept.

A letter is a ``verification_requests`` row (``level`` 3, ``verifier`` ``"letter"``, ``submitted`` until
the code is entered — ``approved`` — or the letter ends — ``cancelled``, its ``answer`` saying why).  Its
``data`` holds::

    {"address": {postcode, region, city, street, house, flat}, "code_hash": HMAC, "code_sealed": …,
     "tries": 0, "printed_at": ISO | null}

and its columns ``expires_at`` (the code's end, ``DOSTUP_LEVELS__LETTER_CODE_DAYS`` from the order) and ``queued_at``
(the order's time while the letter waits to be printed, None once printed or ended: the print queue is the
rows that have it, read from its index).  Letters written before migration 0049 also kept ``expires_at`` in
the JSON; the column is what is read.

The code is :data:`CODE_LENGTH` digits from ``secrets`` (longer than the six of SECURITY.md's one-time codes:
it lives for weeks, not minutes), checked against ``code_hash`` (HMAC under the instance key, bound to the
request).  Until the letter is printed the print queue needs the code's text, so it is kept **sealed**
(AES-GCM under a key of its own, :class:`dostup.core.crypto.Sealer`), never in clear; marking the letter
printed, cancelling it or ending it in any other way erases ``code_sealed`` in the same unit of work, and
only the hash is left.  A letter left past its expiry is ended by housekeeping (:data:`ENDED_EXPIRED`, the
sealed text erased; ``dostup.persistence.housekeeping``), as the customer's next order or code would end it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from dostup.core.crypto import Keyring, Sealer, random_digits
from dostup.core.errors import FormErrors, ValidationFailed
from dostup.persistence.models_levels import VerificationRequest

VERIFIER = "letter"
CODE_LENGTH = 8
MAX_TRIES = 5
ENDED_EXHAUSTED, ENDED_BY_CUSTOMER, ENDED_EXPIRED = "code_exhausted", "cancelled_by_customer", "code_expired"
_POSTCODE = re.compile(r"\d{6}")
_REFUSED = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}
# field → (longest, the message when it is missing; None: optional): a Russian Post address («Почта России»: индекс, регион, населённый пункт,
# улица, дом, квартира); a village may have no street, a house no flats
_LIMITS = {"region": (100, "letter.region_required"), "city": (100, "letter.city_required"),
           "street": (100, None), "house": (20, "letter.house_required"), "flat": (10, None)}


@dataclass(frozen=True, slots=True)
class Address:
    postcode: str
    region: str
    city: str
    street: str | None
    house: str
    flat: str | None

    def as_data(self) -> dict[str, object]:
        return asdict(self)


def parse_address(raw: Mapping[str, object]) -> Address:
    """Every part checked and every problem reported at once (:class:`FormErrors`): the six-digit postcode,
    the region, the town or village and the house required, none longer than its limit, no control or
    invisible characters (an address is printed on an envelope)."""
    errors: list[ValidationFailed] = []
    out: dict[str, str | None] = {}
    postcode = "".join(str(raw.get("postcode") or "").split())
    if not postcode:
        errors.append(ValidationFailed("letter.postcode_required", field="postcode", code="required"))
    elif not postcode.isascii() or not _POSTCODE.fullmatch(postcode):
        errors.append(ValidationFailed("letter.postcode_format", field="postcode"))
    for name, (longest, required) in _LIMITS.items():
        value = raw.get(name)
        text = " ".join(value.split()) if isinstance(value, str) else ""
        if not text:
            out[name] = None
            if required:
                errors.append(ValidationFailed(required, field=name, code="required"))
        elif len(text) > longest:
            errors.append(ValidationFailed("letter.too_long", field=name, code="too_long", params={"max": longest}))
        elif any(unicodedata.category(ch) in _REFUSED for ch in text) or not any(ch.isalnum() for ch in text):
            errors.append(ValidationFailed("letter.invalid_text", field=name))
        else:
            out[name] = text
    if errors:
        raise FormErrors(errors)
    return Address(postcode=postcode, region=str(out["region"]), city=str(out["city"]), street=out["street"],
                   house=str(out["house"]), flat=out["flat"])


class LetterCodes:
    """The code's making, hashing and sealing, under keys derived for letters only."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._sealer = Sealer(keyring, "letter_code")

    def new(self, request_id: str) -> tuple[str, str]:
        """A fresh code's (hash, sealed text): the clear text is not kept."""
        code = random_digits(CODE_LENGTH)
        return self._keyring.mac("letter_code", request_id, code), self._sealer.seal(code.encode())

    def matches(self, data: Mapping[str, Any], request_id: str, code: str) -> bool:
        return self._keyring.check("letter_code", str(data.get("code_hash") or "-"), request_id, code)

    def text(self, data: Mapping[str, Any]) -> str | None:
        """The code's text for printing; None once printed (erased)."""
        sealed = data.get("code_sealed")
        return self._sealer.open(sealed).decode() if isinstance(sealed, str) else None


def without_code_text(data: Mapping[str, Any], **changes: object) -> dict[str, object]:
    """The letter's data with the code's sealed text erased (a new dict: the JSON column sees the change)."""
    out = {k: v for k, v in data.items() if k != "code_sealed"}
    out.update(changes)
    return out


def live(req: VerificationRequest, now: dt.datetime) -> bool:
    """The letter's code may still be entered (its expiry is ahead)."""
    return req.expires_at is not None and req.expires_at > now


def tries(data: Mapping[str, Any]) -> int:
    value = data.get("tries")
    return value if isinstance(value, int) else 0


def address_of(data: Mapping[str, Any]) -> dict[str, object]:
    value = data.get("address")
    return dict(value) if isinstance(value, dict) else {}
