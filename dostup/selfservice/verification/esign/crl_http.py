"""The adapter that downloads a certificate revocation list (:class:`~.revocation.CrlSource`) over plain HTTP.

CRL distribution points are ``http://`` (RFC 5280 §4.2.1.13: a CRL is signed, so TLS adds nothing and would
need revocation checking of its own); the list is checked by :mod:`.revocation`, never trusted for coming from
here.  The URL comes from a certificate a trusted CA signed, and still the download is bounded: one GET, no
redirects, ``timeout`` for the whole of it (a host that trickles a byte a second is cut off too), nothing
compressed (a small body could unpack to any size), and at most ``max_bytes`` read — a larger
``Content-Length`` is refused before the body, a body that grows past it is dropped as soon as it does.
Anything else than a 200 within those bounds is :class:`~.revocation.CrlUnavailable`.
"""

from __future__ import annotations

import asyncio

import httpx

from dostup.selfservice.verification.esign.revocation import CrlUnavailable

_ASK = {"Accept": "application/pkix-crl", "Accept-Encoding": "identity"}


class HttpCrlSource:
    def __init__(self, *, timeout: float, max_bytes: int) -> None:
        self._timeout = timeout
        self.max_bytes = max_bytes

    async def fetch(self, url: str) -> bytes:
        if not url.lower().startswith("http://"):
            raise CrlUnavailable("not an http:// URL")
        try:
            async with asyncio.timeout(self._timeout):
                return await self._get(url)
        except TimeoutError:
            raise CrlUnavailable(f"no answer within {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise CrlUnavailable(f"{type(exc).__name__}: {exc}") from None

    async def _get(self, url: str) -> bytes:
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client, \
                client.stream("GET", url, headers=_ASK) as resp:
            if resp.status_code != 200:
                raise CrlUnavailable(f"answered {resp.status_code}")
            if resp.headers.get("content-encoding", "identity").lower() != "identity":
                raise CrlUnavailable("a compressed answer")  # we asked for none
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise CrlUnavailable(f"{declared} bytes, more than the {self.max_bytes} allowed")
            body = bytearray()
            async for chunk in resp.aiter_raw():
                body += chunk
                if len(body) > self.max_bytes:
                    raise CrlUnavailable(f"more than the {self.max_bytes} bytes allowed")
            return bytes(body)
