"""One error base for the whole service.

Every error a user or an API client can see is a :class:`DostupError` with a stable snake_case
``code`` and a message id from the catalog (``dostup/locale``).  Only ``web/errors.py`` decides
which HTTP status or page an error becomes; domain code never mentions HTTP.
"""

from __future__ import annotations

from typing import Any


class DostupError(Exception):
    code = "error"
    message_id = "error.generic"

    def __init__(
        self,
        message_id: str | None = None,
        *,
        field: str | None = None,
        params: dict[str, Any] | None = None,
        code: str | None = None,
    ) -> None:
        if message_id is not None:
            self.message_id = message_id
        if code is not None:
            self.code = code
        self.field = field
        self.params = params or {}
        super().__init__(self.message_id)


class ValidationFailed(DostupError):
    """A field's value is not acceptable; ``field`` names it."""

    code = "invalid"
    message_id = "error.invalid"


class FormErrors(DostupError):
    """Several fields failed at once; raised so a form can show every problem in one pass."""

    code = "invalid"
    message_id = "error.invalid"

    def __init__(self, errors: list[ValidationFailed]) -> None:
        super().__init__()
        self.errors = errors
        if errors:
            self.code = errors[0].code
            self.message_id = errors[0].message_id
            self.field = errors[0].field
            self.params = errors[0].params


class NotFound(DostupError):
    code = "not_found"
    message_id = "error.not_found"


class Conflict(DostupError):
    code = "conflict"
    message_id = "error.conflict"


class AuthenticationFailed(DostupError):
    """Wrong credentials, unknown account and locked account all look like this (no oracle)."""

    code = "invalid_credentials"
    message_id = "login.invalid_credentials"


class Unauthenticated(DostupError):
    code = "unauthenticated"
    message_id = "error.unauthenticated"


class Forbidden(DostupError):
    code = "forbidden"
    message_id = "error.forbidden"


class CaptchaRequired(DostupError):
    code = "captcha_required"
    message_id = "captcha.required"

    def __init__(self, message_id: str | None = None, **kw: Any) -> None:
        kw.setdefault("field", "captcha")
        super().__init__(message_id, **kw)


class RateLimited(DostupError):
    code = "rate_limited"
    message_id = "error.rate_limited"

    def __init__(self, retry_after: int, message_id: str | None = None, **kw: Any) -> None:
        self.retry_after = max(1, int(retry_after))
        params = kw.pop("params", {}) or {}
        params.setdefault("seconds", self.retry_after)
        super().__init__(message_id, params=params, **kw)


class ServiceUnavailable(DostupError):
    """A dependency the request needs (the database, the shared limiter store) is down or frozen:
    fail closed, and tell the client when to try again."""

    code = "service_unavailable"
    message_id = "error.unavailable"
    retry_after = 5  # seconds: a restarted database or Redis is usually back by then


class FlowExpired(DostupError):
    code = "flow_expired"
    message_id = "flow.expired"


class StepNotAllowed(DostupError):
    code = "step_not_allowed"
    message_id = "flow.step_not_allowed"
