"""Personal names (Фамилия, Имя, Отчество): what a name may contain, nothing more.

Letters of any script, spaces, hyphens and apostrophes (``'``, ``’``, ``ʼ``), at most 100 code
points, at least one letter.  Control characters (CR/LF included), digits, markup and other
punctuation are refused, so a name can never break a header, a CSV export or an SMS line.  What is
accepted is stored exactly as typed (outer spaces trimmed): characters that mean something to SQL
or HTML (the apostrophe, ``--``) stay literal in the database and are escaped on output.
"""

from __future__ import annotations

import unicodedata

from dostup.core.errors import ValidationFailed

MAX_LENGTH = 100
_PUNCTUATION = frozenset(" -'\u2019\u02bc")


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
        elif category.startswith("M") and has_letter:
            continue  # a combining accent on a letter typed in decomposed form
        elif ch not in _PUNCTUATION:
            raise ValidationFailed("settings.name_invalid", field=field)
    if not has_letter:
        raise ValidationFailed("settings.name_invalid", field=field)
    return value
