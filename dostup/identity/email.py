"""Email addresses: syntax by ``email-validator`` (no DNS), stored lower-cased, CR/LF refused."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from dostup.core.errors import ValidationFailed


def parse_email(raw: str | None, *, field: str = "email") -> str:
    value = (raw or "").strip()
    if not value:
        raise ValidationFailed("email.required", field=field, code="required")
    if len(value) > 254 or any(ch in value for ch in "\r\n\x00,;"):
        raise ValidationFailed("email.invalid", field=field)
    try:
        # strict: also the 64-character limit of the local part (RFC 5321 §4.5.3.1.1), which
        # email-validator enforces only in strict mode; longer addresses are undeliverable.
        result = validate_email(value, check_deliverability=False, strict=True)
    except EmailNotValidError:
        raise ValidationFailed("email.invalid", field=field) from None
    return result.normalized.lower()
