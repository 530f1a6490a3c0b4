"""The message catalog: every user-visible text by a stable id, Russian first, English second.

Catalogs are gettext ``.po`` files in ``dostup/locale/<lang>/*.po`` (one file per area, merged),
read with Babel at start-up.  Message ids are stable dotted names (``registration.title``), so code and tests refer
to meaning, not to wording, and a translator edits only the ``.po`` files.

A missing id is a programming error that ``tests/unit/test_catalog.py`` catches before it ships (it
parses every Python module and template for the ids they use).  Should one slip through anyway:

* in development and tests (``strict=True``, as ``build_services`` loads it outside production)
  :meth:`Catalog.text` raises :class:`MissingMessage`, so the page or answer fails loudly where the
  developer sees it;
* in production (``strict=False``, the default, also for the command line) it logs an error
  naming the id and shows the generic «something went wrong» text (``error.generic``) instead of
  a raw dotted id the user cannot read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALES = ("ru", "en")
DEFAULT_LOCALE = "ru"
_LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
GENERIC = "error.generic"
log = logging.getLogger("dostup.i18n")


class MissingMessage(KeyError):
    """A message id the catalog does not have (raised in development and tests only)."""


class Catalog:
    def __init__(self, messages: Mapping[str, Mapping[str, str]], *, strict: bool = False) -> None:
        self._messages = messages
        self.strict = strict

    @classmethod
    def load(cls, directory: Path = _LOCALE_DIR, *, strict: bool = False) -> Catalog:
        messages: dict[str, dict[str, str]] = {}
        for lang in LOCALES:
            table: dict[str, str] = {}
            for path in sorted((directory / lang).glob("*.po")):
                table.update(_read(path, lang))
            messages[lang] = table
        return cls(messages, strict=strict)

    def for_preset(self, preset: str) -> Catalog:
        """This catalog with the preset's wording: ``preset.<preset>.<id>`` replaces ``<id>`` (the sber
        cabinet's «Карты» for the «Лицевые счета» of the others), on every surface and in every message."""
        prefix = f"preset.{preset}."
        merged = {
            lang: {**table, **{k[len(prefix):]: v for k, v in table.items() if k.startswith(prefix)}}
            for lang, table in self._messages.items()
        }
        return Catalog(merged, strict=self.strict)

    def has(self, message_id: str, locale: str = DEFAULT_LOCALE) -> bool:
        return message_id in self._messages.get(locale, {})

    def ids(self, locale: str) -> set[str]:
        return set(self._messages.get(locale, {}))

    def text(self, message_id: str, locale: str = DEFAULT_LOCALE, **params: Any) -> str:
        table = self._messages.get(locale) or self._messages[DEFAULT_LOCALE]
        template = table.get(message_id) or self._messages[DEFAULT_LOCALE].get(message_id)
        if template is None:
            if self.strict:
                raise MissingMessage(message_id)
            log.error("message id %r is not in the catalog", message_id)
            template = table.get(GENERIC) or self._messages[DEFAULT_LOCALE].get(GENERIC, message_id)
        if params:
            try:
                return template % params
            except (KeyError, TypeError, ValueError):
                return template
        return template


_parsed: dict[tuple[Path, str], tuple[int, dict[str, str]]] = {}


def _read(path: Path, lang: str) -> dict[str, str]:
    """One ``.po`` file's translated messages, parsed once per process while the file is unchanged (every
    ``build_services`` loads the catalog; Babel's parser is the slow part of it)."""
    stamp = path.stat().st_mtime_ns
    cached = _parsed.get((path, lang))
    if cached is None or cached[0] != stamp:
        with path.open("rb") as fh:
            po = read_po(fh, locale=lang)
        cached = (stamp, {str(m.id): str(m.string) for m in po if m.id and m.string})
        _parsed[(path, lang)] = cached
    return cached[1]


def pick_locale(requested: str | None, accept_language: str | None = None) -> str:
    if requested in LOCALES:
        return requested
    if accept_language:
        for part in accept_language.split(","):
            lang = part.split(";")[0].strip().lower()[:2]
            if lang in LOCALES:
                return lang
    return DEFAULT_LOCALE
