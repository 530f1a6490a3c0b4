"""The message catalog: every user-visible text by a stable id, Russian first, English second.

Catalogs are gettext ``.po`` files in ``dostup/locale/<lang>/*.po`` (one file per area, merged),
read with Babel at start-up.  Message ids are stable dotted names (``registration.title``), so code and tests refer
to meaning, not to wording, and a translator edits only the ``.po`` files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALES = ("ru", "en")
DEFAULT_LOCALE = "ru"
_LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


class Catalog:
    def __init__(self, messages: Mapping[str, Mapping[str, str]]) -> None:
        self._messages = messages

    @classmethod
    def load(cls, directory: Path = _LOCALE_DIR) -> Catalog:
        messages: dict[str, dict[str, str]] = {}
        for lang in LOCALES:
            table: dict[str, str] = {}
            for path in sorted((directory / lang).glob("*.po")):
                with path.open("rb") as fh:
                    po = read_po(fh, locale=lang)
                table.update({str(m.id): str(m.string) for m in po if m.id and m.string})
            messages[lang] = table
        return cls(messages)

    def has(self, message_id: str, locale: str = DEFAULT_LOCALE) -> bool:
        return message_id in self._messages.get(locale, {})

    def ids(self, locale: str) -> set[str]:
        return set(self._messages.get(locale, {}))

    def text(self, message_id: str, locale: str = DEFAULT_LOCALE, **params: Any) -> str:
        table = self._messages.get(locale) or self._messages[DEFAULT_LOCALE]
        template = table.get(message_id) or self._messages[DEFAULT_LOCALE].get(message_id, message_id)
        if params:
            try:
                return template % params
            except (KeyError, TypeError, ValueError):
                return template
        return template


def pick_locale(requested: str | None, accept_language: str | None = None) -> str:
    if requested in LOCALES:
        return requested
    if accept_language:
        for part in accept_language.split(","):
            lang = part.split(";")[0].strip().lower()[:2]
            if lang in LOCALES:
                return lang
    return DEFAULT_LOCALE
