"""CSRF protection (OWASP CSRF cheat sheet: signed double-submit cookie; ASVS 3.5.1).

A browser gets a random ``csrf`` cookie; each form carries HMAC(secret, cookie).  A cross-site
page can make the browser send the cookie but cannot read it or compute the field.  The JSON API
takes no form posts: cookie-authenticated API calls must come from the same origin (checked on
``Origin`` / ``Sec-Fetch-Site``), bearer-token calls carry no ambient authority.
"""

from __future__ import annotations

from dostup.core.crypto import Keyring, random_token


class Csrf:
    def __init__(self, keyring: Keyring, *, production: bool, public_url: str, trusted: list[str]) -> None:
        self._keyring = keyring
        self.cookie_name = "__Host-dostup_csrf" if production else "dostup_csrf"
        self.secure = production
        self.origins = {public_url.rstrip("/"), *[o.rstrip("/") for o in trusted]}

    def new_cookie(self) -> str:
        return random_token(24)

    def token_for(self, cookie: str) -> str:
        return self._keyring.mac("csrf", cookie)

    def valid(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token or len(cookie) > 128 or len(token) > 128:
            return False
        return self._keyring.check("csrf", token, cookie)

    def same_origin(self, origin: str | None, fetch_site: str | None) -> bool:
        """Browsers send ``Origin`` on cross-origin writes; clients that send none are not browsers."""
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return False
        if origin is None:
            return True
        return origin.rstrip("/") in self.origins
