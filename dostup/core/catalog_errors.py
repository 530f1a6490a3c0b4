"""Plain-text descriptions of domain errors for the command line (English)."""

from __future__ import annotations

from dostup.core.errors import DostupError
from dostup.core.i18n import Catalog


def describe(exc: DostupError, locale: str = "en") -> str:
    text = Catalog.load().text(exc.message_id, locale, **exc.params)
    return f"{exc.field}: {text}" if exc.field else text
