"""A code exchange's two signatures on a thread of their own, beside the event loop.

An exchange signs two tokens: the access token (ES256, ~35 µs of OpenSSL) and the ID token (RS256,
~0.22 ms, the largest single cost of the exchange), whose ``at_hash`` is the hash of the signed
access token, so the second waits for the first.  ``cryptography`` releases the GIL while OpenSSL
signs (two threads sign twice as many RSA-2048 signatures a second as one, and Python code on a
third thread runs on meanwhile: measured 2026-12-04), so on a thread of their own both signatures
run on another core while the loop serves other requests — as Node signs on libuv's thread pool
for panva's oidc-provider.  The loop hands over one job per exchange: the access token's signing
input and the ID token's JSON with a slot for its ``at_hash``; the thread holds the GIL only for
the few microseconds of hashing and base64 between the two OpenSSL calls.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from dostup.oidc.provider.keys import SigningKey, b64, claims_json, compact, signature, signing_header, signing_input
from dostup.oidc.provider.tokens import at_hash

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]
#: Where the ID token's JSON gets the access token's ``at_hash``.  Only ``sub`` and ``sid`` (Dostup's
#: own values) come after it, so its last occurrence is the slot, whatever a client put in its
#: ``nonce`` (which comes before).
AT_HASH_SLOT = "\x00at_hash"
_ENCODED_SLOT = '"\\u0000at_hash"'


def _done(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.cancelled():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


def sign_pair(access_key: SigningKey, access_input: str, id_key: SigningKey, id_header: str,
              id_payload: str) -> tuple[str, str]:
    """The access token, then the ID token whose payload JSON (``id_payload``) holds
    :data:`AT_HASH_SLOT` where its ``at_hash`` goes; ``id_header`` is its header's base64url."""
    access = compact(access_input, signature(access_key, access_input.encode()))
    head, _, tail = id_payload.rpartition(_ENCODED_SLOT)
    data = id_header + "." + b64((head + '"' + at_hash(access) + '"' + tail).encode())
    return access, compact(data, signature(id_key, data.encode()))


class Signer:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        jobs = self._jobs
        while (job := jobs.get()) is not None:
            loop, fut, fn = job
            try:
                result, exc = fn(), None
            except Exception as e:  # noqa: BLE001 - the awaiting request raises it
                result, exc = None, e
            try:
                loop.call_soon_threadsafe(_done, fut, result, exc)
            except RuntimeError:  # the loop closed meanwhile
                pass

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the signing thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="oidc-signer", daemon=True)
            self._thread.start()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, fut, fn))
        return await fut

    async def sign_pair(self, access_key: SigningKey, access_header: dict[str, Any], access_claims: dict[str, Any],
                        id_key: SigningKey, id_header: dict[str, Any], id_claims: dict[str, Any]) -> tuple[str, str]:
        """The access token and the ID token (its ``at_hash`` claim :data:`AT_HASH_SLOT`), signed on
        the thread in one job."""
        access_input = signing_input(access_key, access_header, access_claims)
        header, payload = signing_header(id_key, id_header), claims_json(id_claims)
        return await self.run(lambda: sign_pair(access_key, access_input, id_key, header, payload))

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None

