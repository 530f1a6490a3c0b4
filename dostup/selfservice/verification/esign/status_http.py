"""The adapter that asks for revocation status over plain HTTP: a certificate revocation list by GET
(:class:`~.revocation.CrlSource`) and an OCSP responder's answer by POST (RFC 6960 Appendix A;
:class:`~.ocsp.OcspSource`).

Distribution points and responders are ``http://`` (RFC 5280 §4.2.1.13: lists and answers are signed, so TLS
adds nothing and would need revocation checking of its own); what comes back is checked by :mod:`.revocation`
and :mod:`.ocsp`, never trusted for coming from here.  The URL comes from a certificate a trusted CA signed, and
still the exchange is bounded: one request, no redirects, ``timeout`` for the whole of it (a host that trickles
a byte a second is cut off too), nothing compressed (a small body could unpack to any size), and at most
``max_bytes`` read for a list, :data:`MAX_OCSP_BYTES` for an answer — a larger ``Content-Length`` is refused
before the body, a body that grows past it is dropped as soon as it does.  Anything else than a 200 within those
bounds is :class:`~.revocation.StatusUnavailable`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx

from dostup.selfservice.verification.esign.revocation import StatusUnavailable

MAX_OCSP_BYTES = 64 * 1024  # an answer about one certificate, with a responder's certificate: a few KB
_PLAIN = {"Accept-Encoding": "identity"}
_Send = Callable[[httpx.AsyncClient], AbstractAsyncContextManager[httpx.Response]]  # opens the one request


class HttpStatusSource:
    def __init__(self, *, timeout: float, max_bytes: int) -> None:
        self._timeout = timeout
        self.max_bytes = max_bytes

    async def fetch(self, url: str) -> bytes:
        """The list at a distribution point."""
        headers = {**_PLAIN, "Accept": "application/pkix-crl"}
        return await self._bounded(url, lambda c: c.stream("GET", url, headers=headers), self.max_bytes)

    async def ask(self, url: str, request: bytes) -> bytes:
        """An OCSP responder's answer to ``request`` (DER)."""
        headers = {**_PLAIN, "Content-Type": "application/ocsp-request", "Accept": "application/ocsp-response"}
        return await self._bounded(url, lambda c: c.stream("POST", url, content=request, headers=headers),
                                   min(self.max_bytes, MAX_OCSP_BYTES))

    async def _bounded(self, url: str, send: _Send, limit: int) -> bytes:
        if not url.lower().startswith("http://"):
            raise StatusUnavailable("not an http:// URL")
        try:
            async with asyncio.timeout(self._timeout):
                async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client, \
                        send(client) as resp:
                    return await _body(resp, limit)
        except TimeoutError:
            raise StatusUnavailable(f"no answer within {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise StatusUnavailable(f"{type(exc).__name__}: {exc}") from None


async def _body(resp: httpx.Response, limit: int) -> bytes:
    if resp.status_code != 200:
        raise StatusUnavailable(f"answered {resp.status_code}")
    if resp.headers.get("content-encoding", "identity").lower() != "identity":
        raise StatusUnavailable("a compressed answer")  # we asked for none
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise StatusUnavailable(f"{declared} bytes, more than the {limit} allowed")
    body = bytearray()
    async for chunk in resp.aiter_raw():
        body += chunk
        if len(body) > limit:
            raise StatusUnavailable(f"more than the {limit} bytes allowed")
    return bytes(body)
