"""``create_app(settings)``: the one place where everything is wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import FastAPI

from dostup.accounts.companies import erase_companies
from dostup.accounts.contracts import erase_links, make_registry
from dostup.core.clock import Clock, SystemClock
from dostup.core.crypto import Keyring
from dostup.core.i18n import Catalog
from dostup.courier.channels import Channel
from dostup.courier.channels.dev import DevOutboxChannel
from dostup.courier.channels.sms import HttpSmsChannel, SmsRuChannel
from dostup.courier.channels.smtp import SmtpChannel
from dostup.courier.outbox import Brand, Outbox
from dostup.courier.worker import Worker
from dostup.credentials.codes import CodeService
from dostup.credentials.password import PasswordHasher, PasswordPolicy
from dostup.guards.captcha import make_verifier
from dostup.guards.limits import Limiter
from dostup.guards.store import CounterStore, RedisCounterStore, sql_store
from dostup.persistence.db import Database
from dostup.persistence.migrate import migrate
from dostup.presets import Preset, get_preset
from dostup.selfservice.companies import CompanyService
from dostup.selfservice.contracts import CardFinder, ContractService
from dostup.selfservice.deletion import DeletionService
from dostup.selfservice.deps import FlowDeps
from dostup.selfservice.login.finders import default_finders
from dostup.selfservice.login.service import LoginService, PasswordCheck
from dostup.selfservice.reauth import ReauthService
from dostup.selfservice.recovery.service import RecoveryService, TemporaryPasswordCheck
from dostup.selfservice.registration.forms import RegistrationForms
from dostup.selfservice.registration.service import RegistrationService
from dostup.selfservice.sending import CodeSender
from dostup.selfservice.settings.contacts import ContactService, erase_settings
from dostup.selfservice.settings.notifications import NotificationSettingsService
from dostup.selfservice.settings.password import PasswordChangeService
from dostup.selfservice.settings.profile import ProfileService
from dostup.session.reader import make_reader
from dostup.session.service import SessionService
from dostup.settings import Settings, load_settings

log = logging.getLogger("dostup")


def make_channels(settings: Settings) -> dict[str, Channel]:
    c = settings.courier
    email: Channel = SmtpChannel(settings.smtp) if c.email_provider == "smtp" else DevOutboxChannel()
    sms: Channel
    if c.sms_provider == "http":
        sms = HttpSmsChannel(settings.sms)
    elif c.sms_provider == "smsru":
        sms = SmsRuChannel(settings.sms)
    else:
        sms = DevOutboxChannel()
    return {"email": email, "sms": sms}


@dataclass
class Services:
    settings: Settings
    preset: Preset
    catalog: Catalog
    keyring: Keyring
    clock: Clock
    db: Database
    store: CounterStore
    deps: FlowDeps
    sessions: SessionService
    registration: RegistrationService
    login: LoginService
    worker: Worker
    hasher: PasswordHasher
    reauth: ReauthService
    password_change: PasswordChangeService
    recovery: RecoveryService
    deletion: DeletionService
    profile: ProfileService
    contacts: ContactService
    notification_settings: NotificationSettingsService
    companies: CompanyService
    contracts: ContractService
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, *, run_migrations: bool) -> None:
        if run_migrations:
            await migrate(self.settings.database_url)
        if self.settings.courier.worker_in_process:
            self._tasks.append(asyncio.create_task(self.worker.run_forever(), name="courier"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.sessions._reader.close()  # noqa: SLF001
        await self.store.close()
        await self.db.dispose()
        self.hasher.close()


def build_services(settings: Settings, *, clock: Clock | None = None, catalog: Catalog | None = None) -> Services:
    clock = clock or SystemClock()
    catalog = catalog or Catalog.load()
    preset = get_preset(settings.preset)
    keyring = Keyring(settings.secret_key)
    db = Database(settings.database_url)
    store: CounterStore = RedisCounterStore(settings.redis_url, settings.redis_prefix) if settings.redis_url else sql_store(db, clock)
    hasher = PasswordHasher(settings.passwords)
    sessions = SessionService(settings.sessions, db, make_reader(settings.database_url), clock)
    outbox = Outbox(catalog, Brand(preset.product_name, preset.support_phone, settings.public_url))
    worker = Worker(settings.courier, db, make_channels(settings), clock)
    deps = FlowDeps(
        settings=settings,
        preset=preset,
        db=db,
        clock=clock,
        keyring=keyring,
        catalog=catalog,
        hasher=hasher,
        policy=PasswordPolicy(settings.passwords, preset.operator_names),
        codes=CodeService(settings.codes, keyring),
        limiter=Limiter(store),
        captcha=make_verifier(settings.captcha, keyring, store),
        outbox=outbox,
        sessions=sessions,
        wake_courier=worker.wake,
    )
    sender = CodeSender(deps)
    contracts = ContractService(deps, sender, make_registry(settings.contracts, db, keyring))
    reauth = ReauthService(deps)
    return Services(
        settings=settings,
        preset=preset,
        catalog=catalog,
        keyring=keyring,
        clock=clock,
        db=db,
        store=store,
        deps=deps,
        sessions=sessions,
        registration=RegistrationService(deps, sender, RegistrationForms(deps, card_owner=contracts.card_owner),
                                         card_linker=contracts.link_registered_card),
        login=LoginService(deps, [PasswordCheck(hasher), TemporaryPasswordCheck(deps)],
                           {**default_finders(db), "card": CardFinder(db, keyring)}),
        worker=worker,
        hasher=hasher,
        reauth=reauth,
        password_change=PasswordChangeService(deps, reauth),
        recovery=RecoveryService(deps, sender),
        deletion=DeletionService(deps, reauth, erasers=[erase_settings, erase_companies, erase_links]),
        profile=ProfileService(deps),
        contacts=ContactService(deps, sender, reauth),
        notification_settings=NotificationSettingsService(deps),
        companies=CompanyService(deps, sender),
        contracts=contracts,
    )


def create_app(
    settings: Settings | None = None, *, services: Services | None = None, run_migrations: bool = True
) -> FastAPI:
    from dostup.web.api import PREFIX, api_routers
    from dostup.web.dev import build_dev_router
    from dostup.web.errors import install_error_handlers
    from dostup.web.middleware import BodyLimit, SecurityHeaders
    from dostup.web.ui import build_ui_router, mount_static

    settings = settings or (services.settings if services else load_settings())
    svc = services or build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await svc.start(run_migrations=run_migrations)
        try:
            yield
        finally:
            await svc.stop()

    app = FastAPI(
        title="Dostup",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs" if not settings.production else None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = svc
    install_error_handlers(app)
    for router in api_routers():
        app.include_router(router, prefix=PREFIX)
    app.include_router(build_ui_router())
    if not settings.production:
        app.include_router(build_dev_router())
    mount_static(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       message=svc.catalog.text("error.too_large", "ru"))
    app.add_middleware(SecurityHeaders, production=settings.production)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (``dostup serve`` migrates before starting workers)."""
    return create_app(load_settings(), run_migrations=False)
