"""Access recovery («Восстановить доступ», SPEC §4.3; OWASP Forgot Password cheat sheet).

The server picks the channel from stored data: SMS to a confirmed mobile of an SMS country,
else email to the confirmed address (the seed's FAQ: landline and foreign numbers get email).
A temporary 6-digit password is sent; it is single-use, lives 10 min (SMS) or 60 min (email),
allows 5 tries, and a new request kills the previous one.  The current password keeps working
until the temporary one is used, so a stranger asking for recovery locks nobody out.  Signing in
with it opens a session that may only change the password.
"""

from __future__ import annotations

from dataclasses import dataclass

KIND = PURPOSE = "recovery"
SENT, SIGNED_IN, DONE = "sent", "signed_in", "done"  # the flow's states
MESSAGE_KIND = "recovery_password"


@dataclass(frozen=True, slots=True)
class RecoveryInput:
    phone: str | None = None
    country: str = "RU"
    email: str | None = None
    captcha: str | None = None


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    """``channel`` and ``destination`` are None in enumeration-safe mode (a neutral answer)."""

    channel: str | None
    destination: str | None
    valid_minutes: int | None
