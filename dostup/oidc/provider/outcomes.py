"""What an authorization request comes to; the web layer turns each into a page or a redirect."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ShowError:
    """Shown on Dostup's page, never redirected (unknown client, unregistered redirect URI …)."""

    error: str
    description: str


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str


@dataclass(frozen=True, slots=True)
class SignIn:
    """The user must sign in (``reauth``: prove it again on the signed-in session) and come back."""

    request_id: str
    reauth: bool
    login_hint: str | None = None


@dataclass(frozen=True, slots=True)
class AskConsent:
    request_id: str
    client_name: str
    lines: list[tuple[str, dict[str, str]]]
    redirect_uri: str  # where the decision's form will end up (the page's CSP form-action allows it)


@dataclass(frozen=True, slots=True)
class LevelTooLow:
    request_id: str
    client_name: str
    needed: int
    current: int
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class ConfirmLogout:
    client_name: str | None
    redirect_uri: str | None


@dataclass(frozen=True, slots=True)
class LoggedOut:
    redirect: str | None


Outcome = ShowError | Redirect | SignIn | AskConsent | LevelTooLow
