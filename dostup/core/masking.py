"""Masking of phones and emails for messages, events and history (SECURITY.md: logging)."""

from __future__ import annotations


def mask_phone(e164: str) -> str:
    """``+79123451823`` → ``+7 *** ***-18-23`` (the seed shows the last four digits)."""
    if not e164:
        return ""
    digits = e164.lstrip("+")
    if e164.startswith("+7") and len(digits) == 11:
        return f"+7 *** ***-{digits[-4:-2]}-{digits[-2:]}"
    return "+" + "*" * max(0, len(digits) - 4) + digits[-4:]


def mask_email(email: str) -> str:
    if "@" not in email:
        return "***"
    local, domain = email.rsplit("@", 1)
    shown = local[:1] if len(local) > 1 else ""
    return f"{shown}***@{domain}"


def mask_destination(channel: str, to: str) -> str:
    return mask_phone(to) if channel == "sms" else mask_email(to)
