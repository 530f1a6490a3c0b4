"""Login names (SPEC §3): NFKC, case-insensitive, ``[a-z0-9._-]``, 3–64 characters.

The alphabet is ASCII only, so look-alikes from other scripts (Cyrillic «а» for Latin "a") can
never produce a second login that reads the same; they are refused with their own message.
"""

from __future__ import annotations

import re
import unicodedata

from dostup.core.errors import ValidationFailed

_LOGIN = re.compile(r"^[a-z0-9._-]{3,64}$")
_EDGE = re.compile(r"^[._-]|[._-]$")


def normalize_login(raw: str | None, *, field: str = "login") -> str:
    value = unicodedata.normalize("NFKC", (raw or "").strip()).casefold()
    if not value:
        raise ValidationFailed("login.required", field=field, code="required")
    if len(value) < 3 or len(value) > 64:
        raise ValidationFailed("login.length", field=field)
    if any(ord(ch) > 127 and unicodedata.category(ch).startswith("L") for ch in value):
        raise ValidationFailed("login.confusable", field=field)
    if not _LOGIN.match(value) or _EDGE.search(value):
        raise ValidationFailed("login.alphabet", field=field)
    return value
