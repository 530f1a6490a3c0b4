"""Running Authlib's synchronous server core on the event loop.

Authlib's grants and endpoints call back synchronously (``query_client``, ``save_token`` …) while
Dostup's database is async.  SQLAlchemy solves the same mismatch with greenlets: a sync function
runs in a greenlet spawned by :func:`run`, and each :func:`wait` inside it hands one awaitable
to the event loop and resumes when it is done.  No thread, no second loop: a request costs a
greenlet switch per database call, and the callbacks keep Authlib's plain signatures.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.util import await_only, greenlet_spawn

T = TypeVar("T")


async def run(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    ctx = contextvars.copy_context()
    return await greenlet_spawn(ctx.run, fn, *args, **kw)


def wait(awaitable: Awaitable[T]) -> T:
    return await_only(awaitable)
