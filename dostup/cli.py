"""``dostup``: serve, worker, migrate, outbox, admin."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
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
        "dostup.app:create_app_from_env",
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
) -> None:
    """Create a confirmed account (operators, administrators, tests)."""
    from dostup.admin.users import create_user as _create

    settings = _settings()
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        account_id = asyncio.run(_create(settings, phone=phone, password=password, login=login, email=email,
                                         country=country, role=role, now=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
    except ValueError as exc:
        typer.echo(f"dostup: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(account_id)


def main() -> None:
    app(prog_name="dostup")


if __name__ == "__main__":  # pragma: no cover
    main()
