"""``dostup``: serve, worker, migrate, outbox, admin."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from dostup.settings import Settings, SettingsError, load_settings

app = typer.Typer(help="Dostup — customer cabinet and identity service.", no_args_is_help=True, add_completion=False)
admin = typer.Typer(help="Operator and administrator commands.", no_args_is_help=True)
app.add_typer(admin, name="admin")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"dostup: configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


# Garbage collection in a serving process (each worker calls the factory below).  A request
# allocates thousands of short-lived objects (ORM units of work, pydantic models), so with
# CPython's default gen-0 threshold of 700 a collection runs every few requests; with 50 in
# flight each also scans everything they keep alive, and the collector took ~15% of a sign-in's
# CPU outside argon2.  A threshold of 7,000 makes collections ten times rarer at the cost of a
# little more memory held between them; freezing what start-up built (modules, routes, schema,
# ~160k objects) keeps full collections from walking it again and again.
GC_THRESHOLD = (7000, 10, 10)


def serving_app():  # type: ignore[no-untyped-def]
    """The factory ``dostup serve`` gives uvicorn: the app from the environment, GC tuned for serving."""
    import gc

    from dostup.app import create_app_from_env

    gc.set_threshold(*GC_THRESHOLD)
    application = create_app_from_env()
    gc.collect()
    gc.freeze()
    return application


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Web worker processes.")] = 1,
) -> None:
    """Migrate the database, then serve the cabinet."""
    import uvicorn

    from dostup.persistence.migrate import migrate_sync

    if not os.environ.get("DOSTUP_PUBLIC_URL"):
        os.environ["DOSTUP_PUBLIC_URL"] = f"http://{host}:{port}"
    settings = _settings()
    migrate_sync(settings.database_url)
    # Workers re-read settings from the environment; pin the secret the parent resolved.
    os.environ["DOSTUP_SECRET_KEY"] = settings.secret_key
    mode = "production" if settings.production else "development (dev outbox at /dev/outbox)"
    typer.echo(f"Dostup ({settings.preset}, {mode}) on http://{host}:{port}/  — public URL {settings.public_url}")
    uvicorn.run(
        "dostup.cli:serving_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level="warning" if settings.production else "info",
    )


@app.command()
def worker() -> None:
    """Deliver queued SMS and email (run beside web processes that have the in-process worker off)."""
    from dostup.app import build_services

    settings = _settings()

    async def run() -> None:
        services = build_services(settings)
        await services.start(run_migrations=True)
        try:
            await services.worker.run_forever()
        finally:
            await services.stop()

    asyncio.run(run())


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from dostup.persistence.migrate import migrate_sync

    migrate_sync(_settings().database_url)
    typer.echo("database is up to date")


@app.command()
def outbox(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (newest first).")] = False,
    limit: Annotated[int, typer.Option(help="How many messages.")] = 20,
) -> None:
    """Show the latest messages of the outbox (codes included only in development)."""
    from sqlalchemy import select

    from dostup.persistence.db import Database
    from dostup.persistence.models import OutboxMessage

    settings = _settings()

    async def fetch() -> list[dict[str, object]]:
        db = Database(settings.database_url)
        try:
            async with db.read() as s:
                rows = (await s.execute(
                    select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(limit)
                )).scalars().all()
        finally:
            await db.dispose()
        return [
            {"to": m.to, "channel": m.channel, "kind": m.kind, "text": m.body,
             "code": None if settings.production else m.code, "status": m.status,
             "created_at": m.created_at.isoformat() + "Z"}
            for m in rows
        ]

    items = asyncio.run(fetch())
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    for m in items:
        typer.echo(f"{m['created_at']}  {m['channel']:5} {m['to']:<24} {m['kind']:<22} {m['status']:<8} {m['code'] or ''}")


@admin.command("create-user")
def create_user(
    phone: Annotated[str | None, typer.Option(help="Phone number (E.164 or national).")] = None,
    password: Annotated[str | None, typer.Option(help="Password (prompted when omitted).")] = None,
    login: Annotated[str | None, typer.Option(help="Login name.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    country: Annotated[str, typer.Option(help="Country for a national phone number.")] = "RU",
    role: Annotated[str, typer.Option(help="customer, operator or admin.")] = "customer",
    snils: Annotated[str | None, typer.Option(help="SNILS (11 digits), a sign-in identifier in gosuslugi.")] = None,
) -> None:
    """Create a confirmed account (operators, administrators, tests)."""
    from dostup.admin.users import create_user as _create

    settings = _settings()
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        account_id = asyncio.run(_create(settings, phone=phone, password=password, login=login, email=email,
                                         country=country, role=role, snils=snils,
                                         now=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
    except ValueError as exc:
        typer.echo(f"dostup: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(account_id)


@admin.command("import-contracts")
def import_contracts(
    file: Annotated[Path, typer.Argument(help="CSV file (UTF-8) with a header: number,kind,phone,secret.")],
) -> None:
    """Import or update the company's contract registry (lines with errors are reported and skipped).

    Numbers and secrets are stored as keyed hashes: run it with the server's DOSTUP_SECRET_KEY.
    Exit status 0 when every row was imported, 1 when some rows (or the file) had errors.
    """
    from dostup.admin.contracts import BadFile, ContractImporter, ImportReport, decode, read_csv
    from dostup.core.catalog_errors import describe
    from dostup.core.context import Context
    from dostup.core.crypto import Keyring
    from dostup.core.i18n import Catalog
    from dostup.persistence.db import Database
    from dostup.persistence.migrate import migrate as _migrate

    settings = _settings()
    try:
        rows = read_csv(decode(file.read_bytes()))
    except OSError as exc:
        typer.echo(f"dostup: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    except BadFile as exc:
        typer.echo(f"dostup: {file}: {describe(exc)}", err=True)
        raise typer.Exit(1) from None

    async def run() -> ImportReport:
        await _migrate(settings.database_url)
        db = Database(settings.database_url)
        try:
            return await ContractImporter(db, Keyring(settings.secret_key)).import_rows(
                rows, now=dt.datetime.now(dt.UTC).replace(tzinfo=None), ctx=Context(surface="cli"))
        finally:
            await db.dispose()

    report = asyncio.run(run())
    catalog = Catalog.load()
    for err in report.errors:
        text = catalog.text(err.message_id, "en", **err.params)
        typer.echo(f"line {err.line}: {err.field or '-'}: {text}", err=True)
    typer.echo(f"imported {report.imported} (new {report.created}, updated {report.updated}); "
               f"rows with errors: {len({e.line for e in report.errors})}")
    if report.errors:
        raise typer.Exit(1)


def main() -> None:
    app(prog_name="dostup")


if __name__ == "__main__":  # pragma: no cover
    main()
