"""Where we may send a browser after a flow (OWASP Unvalidated Redirects; ASVS 5.1.5).

Only a relative path (``/cabinet``) or an absolute URL on a configured origin is accepted;
``//evil``, ``/\\evil``, ``javascript:``, ``host.evil`` and ``host@evil`` are refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_return_to(value: str | None, allowed_origins: set[str]) -> str | None:
    if not value or len(value) > 512 or any(ord(c) < 0x21 or c == "\\" for c in value):
        return None
    if value.startswith("/"):
        if value.startswith("//"):
            return None
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return value if origin in {o.lower().rstrip("/") for o in allowed_origins} else None
