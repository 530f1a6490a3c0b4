"""Personal names (Фамилия, Имя, Отчество): what a name may contain.

A name is stored exactly as typed (outer spaces trimmed), whatever it looks like: characters that
mean something to SQL or HTML (``'``, ``--``, ``<script>``) stay literal in the database and are
escaped on output (SECURITY.md).  What is refused is what could break a line or fool a reader,
not what looks unusual: control characters (CR/LF, NUL, tab), invisible format characters such
as bidi overrides (the joiners ZWJ/ZWNJ, which some scripts need, excepted), line and paragraph
separators, unassigned and private-use code points.  At most 100 code points, at least one
letter.
"""

from __future__ import annotations

import unicodedata

from dostup.core.errors import ValidationFailed

MAX_LENGTH = 100
_JOINERS = frozenset("\u200c\u200d")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def parse_name(raw: str | None, *, field: str) -> str | None:
    """The name to store, or ``None`` when the field was left empty (an optional name cleared)."""
    value = (raw or "").strip(" ")
    if not value:
        return None
    if len(value) > MAX_LENGTH:
        raise ValidationFailed("settings.name_too_long", field=field, code="too_long", params={"max": MAX_LENGTH})
    has_letter = False
    for ch in value:
        category = unicodedata.category(ch)
        if category.startswith("L"):
            has_letter = True
        elif category in _REFUSED_CATEGORIES and ch not in _JOINERS:
            raise ValidationFailed("settings.name_invalid", field=field)
    if not has_letter:
        raise ValidationFailed("settings.name_invalid", field=field)
    return value
