"""The entry point ``uvicorn --factory`` (``dostup serve``) calls: the app built from the environment.

The wiring itself lives in :mod:`dostup.services` (the composition root) and
:func:`dostup.web.app.create_app` (the HTTP surface).

``dostup serve`` validates the settings and migrates, then replaces itself (``exec``) with
``python -m dostup.app``, which runs uvicorn on :func:`serving_app`: a serving process never loads
the command line (typer, click's rich help, pygments) nor Alembic and the migration scripts, ~20 MiB
it would keep resident for nothing (issue 13 §0, ``bench/memory.py``).  ``dostup worker`` does the
same into ``python -m dostup.app --courier``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

# httpx (the SMS, captcha and registry clients) imports its own command-line client on import when
# click, rich and pygments are installed (typer brings them): ~8 MiB no server uses.  A None entry
# makes that optional import fail the way httpx expects when they are missing.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from dostup.core.memory import tune_malloc  # noqa: E402
from dostup.settings import load_settings  # noqa: E402

if TYPE_CHECKING:
    from fastapi import FastAPI

# Garbage collection in a serving process (each worker calls the factory below).  A request
# allocates thousands of short-lived objects (ORM units of work, pydantic models), so with
# CPython's default gen-0 threshold of 700 a collection runs every few requests; with 50 in
# flight each also scans everything they keep alive, and the collector took ~15% of a sign-in's
# CPU outside argon2.  A threshold of 7,000 makes collections ten times rarer at the cost of a
# little more memory held between them; freezing what start-up built (modules, routes, schema,
# ~160k objects) keeps full collections from walking it again and again.
GC_THRESHOLD = (7000, 10, 10)


def create_app_from_env() -> FastAPI:
    """``dostup serve`` migrates before starting workers, so the workers do not."""
    from dostup.services import build_services  # here: the courier process (``--courier``) needs neither
    from dostup.web.app import create_app

    return create_app(build_services(load_settings()), run_migrations=False)


def serving_app() -> FastAPI:
    """The factory uvicorn calls in each web process: the app from the environment, GC and malloc
    tuned for serving."""
    import gc

    tune_malloc()
    gc.set_threshold(*GC_THRESHOLD)
    application = create_app_from_env()
    gc.collect()
    gc.freeze()
    return application


def run_courier() -> None:
    """``dostup worker`` after its migration: deliver the outbox, and purge what expired every
    ``DOSTUP_HOUSEKEEPING__INTERVAL_SECONDS``, until stopped."""
    import asyncio

    tune_malloc()

    from dostup.courier.build import courier_process

    asyncio.run(courier_process(load_settings()).run())


def main(argv: list[str] | None = None) -> None:
    """``python -m dostup.app --host H --port P --workers N --forwarded-allow-ips IPS --log-level L``,
    or ``python -m dostup.app --courier`` (what ``dostup serve`` / ``dostup worker`` exec)."""
    import uvicorn

    ap = argparse.ArgumentParser(prog="python -m dostup.app")
    ap.add_argument("--courier", action="store_true", help="deliver the outbox instead of serving")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    ap.add_argument("--log-level", default="info")
    args = ap.parse_args(argv)
    if args.courier:
        run_courier()
        return
    uvicorn.run(
        "dostup.app:serving_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()
