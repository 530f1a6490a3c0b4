"""Bodies of the account endpoints."""

from __future__ import annotations

from dostup.web.api.schemas import _In


class PasswordChangeIn(_In):
    old_password: str | None = None
    new_password: str | None = None
    new_password_repeat: str | None = None


class ReauthIn(_In):
    password: str | None = None


class DeleteAccountIn(_In):
    confirm: bool = False
