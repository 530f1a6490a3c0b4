"""RS256 signatures on a thread of their own, beside the event loop.

An RSA-2048 signature is ~0.26–0.3 ms of OpenSSL, the largest single cost of a code exchange, and
``cryptography`` releases the GIL while OpenSSL signs: on a thread of its own the signature runs on
another core while the loop serves other requests — as Node signs on libuv's thread pool for panva's
oidc-provider.  Only the OpenSSL call is handed over (the claims, JSON and base64 stay on the loop):
the signing thread holds the GIL for a few microseconds per job, so the loop seldom waits for it.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

from dostup.oidc.provider.keys import SigningKey, compact, signature, signing_input

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[bytes]", SigningKey, bytes]


def _done(fut: asyncio.Future[bytes], sig: bytes | None, exc: BaseException | None) -> None:
    if fut.cancelled():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(sig)  # type: ignore[arg-type]


class Signer:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        jobs = self._jobs
        while (job := jobs.get()) is not None:
            loop, fut, key, data = job
            try:
                sig, exc = signature(key, data), None
            except Exception as e:  # noqa: BLE001 - the awaiting request raises it
                sig, exc = None, e
            try:
                loop.call_soon_threadsafe(_done, fut, sig, exc)
            except RuntimeError:  # the loop closed meanwhile
                pass

    async def sign_jwt(self, key: SigningKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
        data = signing_input(key, header, claims)
        if key.alg != "RS256":
            return compact(data, signature(key, data.encode()))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="oidc-rs256", daemon=True)
            self._thread.start()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes] = loop.create_future()
        self._jobs.put((loop, fut, key, data.encode()))
        return compact(data, await fut)

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None
