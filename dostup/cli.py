"""``dostup``: serve, worker, migrate, outbox, admin."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from dostup.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from dostup.oidc.provider.service import OidcProvider

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
    from dostup.persistence.migrate import migrate_sync

    if not os.environ.get("DOSTUP_PUBLIC_URL"):
        # WebAuthn needs a domain (an IP address is no RP ID): on this machine, that is localhost
        local = host in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::")  # noqa: S104 - compared, not bound
        os.environ["DOSTUP_PUBLIC_URL"] = f"http://{'localhost' if local else host}:{port}"
    settings = _settings()
    migrate_sync(settings.database_url)
    # Workers re-read settings from the environment; pin the secret the parent resolved.
    os.environ["DOSTUP_SECRET_KEY"] = settings.secret_key
    mode = "production" if settings.production else "development (dev outbox at /dev/outbox)"
    typer.echo(f"Dostup ({settings.preset}, {mode}) on {settings.public_url}/  (listening on {host}:{port})")
    sys.stdout.flush()
    # A fresh interpreter serves: none of the command line, Alembic or the migration stays resident.
    os.execv(sys.executable, [sys.executable, "-m", "dostup.app", "--host", host, "--port", str(port),  # noqa: S606
                              "--workers", str(workers), "--forwarded-allow-ips", settings.forwarded_allow_ips,
                              "--log-level", "warning" if settings.production else "info"])


@app.command()
def worker() -> None:
    """Deliver queued SMS and email (run beside web processes that have the in-process worker off)."""
    from dostup.persistence.migrate import migrate_sync

    settings = _settings()
    migrate_sync(settings.database_url)
    sys.stdout.flush()
    # A fresh interpreter delivers: none of the command line, Alembic or the migration stays resident.
    os.execv(sys.executable, [sys.executable, "-m", "dostup.app", "--courier"])  # noqa: S606 - no shell wanted


@app.command()
def migrate(
    new: Annotated[str | None, typer.Option("--new", metavar="MESSAGE", help=(
        "Write the next migration from what the models changed (compared on a scratch SQLite database "
        "migrated to head) instead of migrating; read and test it before committing."))] = None,
) -> None:
    """Bring the database schema up to date (or, with --new, write the next migration)."""
    from dostup.persistence.migrate import migrate_sync, new_revision

    if new is not None:
        path = new_revision(new)
        typer.echo(f"wrote {path}")
        return
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


T = TypeVar("T")


def _read_import(file: Path, parse: Callable[[bytes], T]) -> T:
    """An import file's rows; an unreadable or malformed file ends the command with its reason."""
    from dostup.admin.contracts import BadFile
    from dostup.core.catalog_errors import describe

    try:
        return parse(file.read_bytes())
    except OSError as exc:
        typer.echo(f"dostup: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    except BadFile as exc:
        typer.echo(f"dostup: {file}: {describe(exc)}", err=True)
        raise typer.Exit(1) from None


@admin.command("import-contracts")
def import_contracts(
    file: Annotated[Path, typer.Argument(help="CSV file (UTF-8) with a header: number,kind,phone,secret.")],
) -> None:
    """Import or update the company's contract registry (lines with errors are reported and skipped).

    Numbers and secrets are stored as keyed hashes: run it with the server's DOSTUP_SECRET_KEY.
    Exit status 0 when every row was imported, 1 when some rows (or the file) had errors.
    """
    from dostup.admin.contracts import ContractImporter, ImportReport, decode, read_csv
    from dostup.core.context import Context
    from dostup.core.crypto import Keyring
    from dostup.core.i18n import Catalog
    from dostup.persistence.db import Database
    from dostup.persistence.migrate import migrate as _migrate

    settings = _settings()
    rows = _read_import(file, lambda data: read_csv(decode(data)))

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


@admin.command("import-users")
def import_users(
    file: Annotated[Path, typer.Argument(help="CSV file (UTF-8) with a header: phone,email,login,password_hash,...")],
) -> None:
    """Import the customers of a previous cabinet, with their password hashes (argon2, bcrypt, PBKDF2).

    Each customer signs in with their old password, and that sign-in replaces the hash with argon2id.
    Rows with errors, or whose phone, email or login is already used, are reported and skipped.
    Exit status 0 when every row was imported, 1 when some rows (or the file) had errors.
    """
    from dostup.admin.contracts import ImportReport, decode
    from dostup.admin.users_import import UserImporter, read_csv
    from dostup.core.i18n import Catalog
    from dostup.persistence.db import Database
    from dostup.persistence.migrate import migrate as _migrate

    settings = _settings()
    rows = _read_import(file, lambda data: read_csv(decode(data, "users")))

    async def run() -> ImportReport:
        await _migrate(settings.database_url)
        db = Database(settings.database_url)
        try:
            return await UserImporter(db).import_rows(rows, now=dt.datetime.now(dt.UTC).replace(tzinfo=None))
        finally:
            await db.dispose()

    report = asyncio.run(run())
    catalog = Catalog.load()
    for err in report.errors:
        typer.echo(f"line {err.line}: {err.field or '-'}: {catalog.text(err.message_id, 'en', **err.params)}", err=True)
    typer.echo(f"imported {report.created}; rows with errors: {len({e.line for e in report.errors})}")
    if report.errors:
        raise typer.Exit(1)


@admin.command("purge")
def purge() -> None:
    """Delete expired rows once (what `dostup worker` does every few minutes); prints JSON counts per table.

    Safe beside running workers; with the in-process courier (no `dostup worker`) run it from cron.
    """
    from dostup.core.clock import SystemClock
    from dostup.core.crypto import Keyring
    from dostup.courier.build import db_timeouts, housekeeping
    from dostup.persistence.db import Database
    from dostup.persistence.migrate import migrate as _migrate

    settings = _settings()

    async def run() -> dict[str, int]:
        await _migrate(settings.database_url)
        db = Database(settings.database_url, timeouts=db_timeouts(settings))
        try:
            return await housekeeping(settings.housekeeping, db, SystemClock(), Keyring(settings.secret_key)).purge()
        finally:
            await db.dispose()

    typer.echo(json.dumps(asyncio.run(run()), indent=2))


# -- OpenID Connect provider (issue 12): partners, keys ---------------------------------------------

def _oidc(job: Callable[[OidcProvider], Awaitable[object]]) -> None:
    """Run ``job(provider)`` against the configured database (migrated first); print its JSON."""
    from dostup.core.catalog_errors import describe
    from dostup.core.errors import DostupError
    from dostup.persistence.migrate import migrate as _migrate
    from dostup.services import build_services

    settings = _settings()

    async def run() -> object:
        await _migrate(settings.database_url)
        services = build_services(settings)
        try:
            return await job(services.oidc)
        finally:
            await services.stop()

    try:
        result = asyncio.run(run())
    except DostupError as exc:
        typer.echo(json.dumps({"error": exc.code, "message": describe(exc)}, ensure_ascii=False), err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@admin.command("add-client")
def add_client(
    name: Annotated[str, typer.Option(help="The partner's name, shown on the consent screen.")],
    redirect_uri: Annotated[list[str], typer.Option(help="Redirect URI (exact match); repeat for more.")],
    post_logout_redirect_uri: Annotated[list[str] | None, typer.Option(help="Where RP-initiated logout may return.")] = None,
    backchannel_logout_uri: Annotated[str | None, typer.Option(help="Back-channel logout endpoint.")] = None,
    public: Annotated[bool, typer.Option("--public", help="A public client (no secret; PKCE S256 required).")] = False,
    min_level: Annotated[int, typer.Option(help="Lowest account level of assurance let through (1-3).")] = 1,
    scopes: Annotated[str, typer.Option(help="Scopes the client may ask for.")] = "openid profile email phone offline_access",
    pairwise: Annotated[bool, typer.Option("--pairwise", help="Pairwise subject identifiers.")] = False,
    jwks_file: Annotated[Path | None, typer.Option(help="The client's public JWKS: authenticates with private_key_jwt.")] = None,
) -> None:
    """Register a relying party; prints JSON with client_id (and client_secret, shown once)."""
    jwks = json.loads(jwks_file.read_text()) if jwks_file else None
    _oidc(lambda p: p.clients.add(
        name=name, redirect_uris=redirect_uri, post_logout_redirect_uris=post_logout_redirect_uri or [],
        backchannel_logout_uri=backchannel_logout_uri, public=public, min_level=min_level, scopes=scopes,
        subject_type="pairwise" if pairwise else "public", jwks=jwks))


@admin.command("list-clients")
def list_clients() -> None:
    """The registered relying parties (JSON; secrets are never shown again)."""
    _oidc(lambda p: p.clients.listing())


@admin.command("remove-client")
def remove_client(client_id: Annotated[str, typer.Argument(help="The client's id.")]) -> None:
    """Remove a relying party and end every token it holds."""
    _oidc(lambda p: p.remove_client(client_id))


@admin.command("rotate-client-secret")
def rotate_client_secret(client_id: Annotated[str, typer.Argument(help="The client's id.")]) -> None:
    """Issue a new secret (shown once); the old one stops working at once."""
    _oidc(lambda p: p.clients.rotate_secret(client_id))


@admin.command("rotate-keys")
def rotate_keys(
    delay: Annotated[int | None, typer.Option(help="Seconds before the new keys sign (default: settings).")] = None,
) -> None:
    """Publish new signing keys now, sign with them after the delay; old public keys stay until their tokens expire."""

    async def job(p: OidcProvider) -> object:
        result = await p.keys.rotate(delay)
        result["keys"] = await p.keys.listing()
        return result

    _oidc(job)


def main() -> None:
    app(prog_name="dostup")


if __name__ == "__main__":  # pragma: no cover
    main()
