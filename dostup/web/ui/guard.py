"""Page access: signed-in pages, the password-change-only state, and recent re-authentication."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from dostup.session.reader import SessionRecord
from dostup.web.deps import get_services, optional_session
from dostup.web.ui.render import redirect

CHANGE_PASSWORD_PATH = "/settings/password"  # noqa: S105 - a URL path


async def page_session(request: Request, *, allow_password_change: bool = False) -> SessionRecord | Response:
    """The session for a cabinet page, or the redirect the browser must follow instead.

    A session opened with a temporary password may only reach the change-password page.
    """
    rec = await optional_session(request)
    if rec is None:
        return redirect("/login?return_to=" + quote(request.url.path, safe="/"))
    if rec.state != "active" and not allow_password_change:
        return redirect(CHANGE_PASSWORD_PATH)
    return rec


def needs_reauth(request: Request, rec: SessionRecord) -> Response | None:
    """Redirect to «Подтвердите пароль» unless the user signed in within the re-auth window."""
    if get_services(request).reauth.is_recent(rec):
        return None
    return redirect("/reauth?return_to=" + quote(request.url.path, safe="/"))
