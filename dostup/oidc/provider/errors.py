"""Errors of the provider that users see on Dostup's own pages (never redirected to a partner)."""

from __future__ import annotations

from dostup.core.errors import DostupError, NotFound


class InvalidAuthorizationRequest(DostupError):
    """RFC 6749 §4.1.2.1: with an unknown client or an unregistered redirect URI the user is told
    and *not* sent anywhere — redirecting would make Dostup an open redirector."""

    code = "invalid_request"
    message_id = "oidc.invalid_request"


class ClientNotFound(NotFound):
    code = "client_not_found"
    message_id = "oidc.client_not_found"
