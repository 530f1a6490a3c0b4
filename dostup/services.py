"""The composition root: every service is built here, once, from the settings.

``build_services(settings)`` is the only place that knows how the pieces fit together; the web
layer (``dostup.web.app.create_app``), the CLI and the tests receive the built :class:`Services`
and never construct a service themselves.  Each service gets only what it uses — its settings
section, not all of :class:`Settings` (STYLE.md, habit 5).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass, field

from dostup.accounts.catalogue import CatalogueEntry
from dostup.accounts.companies import erase_companies
from dostup.accounts.contracts import erase_links, make_registry
from dostup.accounts.history import History
from dostup.accounts.legal import LegalDocuments
from dostup.accounts.letters import LetterCodes
from dostup.accounts.support import erase_support
from dostup.admin.accounts import AccountActions, end_devices, erase_second_factors
from dostup.admin.contracts import ContractImporter
from dostup.admin.letters import PrintQueue
from dostup.admin.search import AccountSearch
from dostup.admin.support import SupportQueue
from dostup.admin.users_import import UserImporter
from dostup.admin.verifications import VerificationQueue
from dostup.core.clock import Clock, SystemClock, time_zone
from dostup.core.crypto import Keyring
from dostup.core.i18n import Catalog
from dostup.courier.build import courier_worker, db_timeouts, housekeeping
from dostup.courier.outbox import Brand, Outbox
from dostup.courier.worker import Worker
from dostup.credentials.codes import CodeService
from dostup.credentials.passkeys import relying_party
from dostup.credentials.password import PasswordHasher, PasswordPolicy
from dostup.federation.client import FederationClient
from dostup.federation.providers import Provider
from dostup.guards.captcha import CaptchaVerifier, make_verifier
from dostup.guards.limits import Limiter
from dostup.guards.store import CounterStore, RedisCounterStore, sql_store
from dostup.guards.throttle import Throttle
from dostup.oidc.provider.acr import reachable_levels
from dostup.oidc.provider.service import OidcProvider
from dostup.oidc.provider.store import end_account_grants
from dostup.persistence.db import Database
from dostup.persistence.housekeeping import Housekeeping
from dostup.presets import Preset, get_preset
from dostup.selfservice.companies import CompanyService
from dostup.selfservice.contracts import CardFinder, ContractService
from dostup.selfservice.deletion import DeletionService
from dostup.selfservice.login.ceremony import Ceremony, SignedFlows
from dostup.selfservice.login.finders import default_finders
from dostup.selfservice.login.flow import SecondFactor
from dostup.selfservice.login.service import LoginService
from dostup.selfservice.methods.code.companies import CompanyCode
from dostup.selfservice.methods.code.contacts import ContactCode
from dostup.selfservice.methods.code.contracts import ContractCode
from dostup.selfservice.methods.code.method import CodeMethod
from dostup.selfservice.methods.code.registration import RegistrationCode
from dostup.selfservice.methods.passcode.login import PasscodeLogin
from dostup.selfservice.methods.passcode.settings import PasscodeSettings
from dostup.selfservice.methods.passkey.ceremony import PasskeyCeremony
from dostup.selfservice.methods.passkey.settings import PasskeySettings
from dostup.selfservice.methods.passkey.store import erase as erase_passkeys
from dostup.selfservice.methods.password.login import PasswordLogin
from dostup.selfservice.methods.password.reauth import PasswordReauth
from dostup.selfservice.methods.recovery_code.login import RecoveryCodeLogin
from dostup.selfservice.methods.recovery_code.settings import RecoveryCodeSettings
from dostup.selfservice.methods.social.registration import SocialRegistration
from dostup.selfservice.methods.social.service import SocialSignIn, link_registered
from dostup.selfservice.methods.social.settings import SocialSettings
from dostup.selfservice.methods.social.store import erase as erase_social
from dostup.selfservice.methods.temporary_password.login import TemporaryPasswordLogin
from dostup.selfservice.methods.totp.login import TotpLogin
from dostup.selfservice.methods.totp.reauth import TotpReauth
from dostup.selfservice.methods.totp.settings import TotpSettings
from dostup.selfservice.methods.totp.strategy import TotpCodes
from dostup.selfservice.notices import SignInNotice, account_notifier
from dostup.selfservice.reauth import ReauthService
from dostup.selfservice.recovery.service import RecoveryService
from dostup.selfservice.registration.forms import RegistrationForms
from dostup.selfservice.registration.service import RegistrationPolicy, RegistrationService
from dostup.selfservice.registration.variants import get_variant
from dostup.selfservice.sending import CodeSender
from dostup.selfservice.settings.contacts import ContactService, erase_settings
from dostup.selfservice.settings.notifications import NotificationSettingsService, preferred_notifier
from dostup.selfservice.settings.password import PasswordChangeService
from dostup.selfservice.settings.profile import ProfileService
from dostup.selfservice.signout import SignOut
from dostup.selfservice.support import SupportService
from dostup.selfservice.verification.bank import BankConfirmation
from dostup.selfservice.verification.esign.service import SignatureService, erase_statements
from dostup.selfservice.verification.esign.setup import configured_check
from dostup.selfservice.verification.flow import Verifier
from dostup.selfservice.verification.letter import LetterService
from dostup.selfservice.verification.passport import PassportSeal
from dostup.selfservice.verification.service import VerificationService, erase_identity
from dostup.selfservice.verification.verifiers import OperatorQueue, RegistryVerifier
from dostup.session.csrf import Csrf
from dostup.session.reader import make_reader
from dostup.session.service import SessionService
from dostup.settings import Settings


@dataclass
class Services:
    settings: Settings
    preset: Preset
    catalog: Catalog
    keyring: Keyring
    clock: Clock
    db: Database
    store: CounterStore
    csrf: Csrf
    captcha: CaptchaVerifier
    outbox: Outbox
    sessions: SessionService
    sign_out: SignOut
    registration: RegistrationService
    login: LoginService
    worker: Worker
    hasher: PasswordHasher
    reauth: ReauthService
    recovery_codes: RecoveryCodeSettings
    passkeys: PasskeySettings
    totp: TotpSettings
    passcode_login: PasscodeLogin
    passcode: PasscodeSettings
    password_change: PasswordChangeService
    recovery: RecoveryService
    deletion: DeletionService
    profile: ProfileService
    contacts: ContactService
    notification_settings: NotificationSettingsService
    companies: CompanyService
    contracts: ContractService
    oidc: OidcProvider
    history: History
    importer: ContractImporter
    user_importer: UserImporter
    account_search: AccountSearch
    account_actions: AccountActions
    verification: VerificationService  # the full profile and its check («Стандартная учётная запись»)
    verification_queue: VerificationQueue  # the operators' review queue (the built-in verifier)
    esign: SignatureService  # «Подтверждённая» by a qualified e-signature of a statement
    support: SupportService  # «Обращения»: the customer's support requests
    support_queue: SupportQueue  # the operators' side of them
    letters: LetterService  # «Подтверждённая» by a code sent in a registered letter
    print_queue: PrintQueue  # the operators' print queue of those letters
    bank: BankConfirmation  # «Подтверждённая» through a bank over OpenID Connect (its verified claims match)
    social: SocialSignIn
    social_settings: SocialSettings
    social_registration: SocialRegistration
    legal: LegalDocuments
    housekeeping: Housekeeping  # run by `dostup worker`, `dostup admin purge`, and beside an in-process courier
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, *, run_migrations: bool) -> None:
        if run_migrations:
            from dostup.persistence.migrate import migrate  # Alembic only where it runs (issue 13 §0)

            await migrate(self.settings.database_url)
        if self.settings.courier.worker_in_process:  # no `dostup worker`: this process does its work
            self._tasks.append(asyncio.create_task(self.worker.run_forever(), name="courier"))
            if self.settings.housekeeping.enabled:
                every = self.settings.housekeeping.interval_seconds
                self._tasks.append(asyncio.create_task(self.housekeeping.run_forever(every, first_now=False),
                                                       name="housekeeping"))

    async def ready(self) -> dict[str, str]:
        """Whether this process can serve (a load balancer's readiness check, ``GET /health/ready``): the database
        answers one statement, and so does the store of the limits (Redis where configured) — each within the
        timeouts every request has, and :class:`ServiceUnavailable` (503 with ``Retry-After``) when one does not."""
        await self.db.read_raw(lambda raw: raw.one("SELECT 1", {}))
        await self.store.get("health:ready")
        return {"status": "ready", "database": "ok", "limits": "redis" if self.settings.redis_url else "database"}

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.oidc.notifier.drain()
        self.oidc.close()
        await self.sessions._reader.close()  # noqa: SLF001
        await self.store.close()
        await self.db.dispose()
        self.hasher.close()


def build_services(settings: Settings, *, clock: Clock | None = None, catalog: Catalog | None = None) -> Services:
    clock = clock or SystemClock()
    preset = get_preset(settings.preset)
    catalog = (catalog or Catalog.load(strict=not settings.production)).for_preset(preset.name)
    keyring = Keyring(settings.secret_key)
    db = Database(settings.database_url, timeouts=db_timeouts(settings), sqlite_cache_mib=settings.db.sqlite_loop_cache_mib)
    store: CounterStore = (RedisCounterStore(settings.redis_url, settings.redis_prefix, cluster=settings.redis_cluster,
                                             timeout=settings.redis_timeout_seconds)
                           if settings.redis_url else sql_store(db, clock))
    hasher = PasswordHasher(settings.passwords)
    reader = make_reader(settings.database_url, db_timeouts(settings), db.breaker,
                         sqlite_cache_mib=settings.db.sqlite_reader_cache_mib)
    sessions = SessionService(settings.sessions, db, reader, clock)
    outbox = Outbox(catalog, Brand(preset.product_name, preset.support_phone, settings.public_url))
    worker = courier_worker(settings, db, clock)
    policy = PasswordPolicy(settings.passwords, preset.operator_names)
    codes = CodeService(settings.codes, keyring)
    limiter = Limiter(store)
    captcha = make_verifier(settings.captcha, keyring, store)
    sms_countries = settings.codes.sms_countries
    enumeration_safe = preset.enumeration_safe if settings.enumeration_safe is None else settings.enumeration_safe
    sender = CodeSender(settings.codes, codes=codes, limiter=limiter, outbox=outbox, db=db, clock=clock,
                        wake_courier=worker.wake, operator_email=settings.courier.operator_email)
    code = CodeMethod(db=db, codes=codes, sender=sender)
    contracts = ContractService(settings.contracts, proof=ContractCode(code),
                                registry=make_registry(settings.contracts, db, keyring), db=db, clock=clock,
                                keyring=keyring, limiter=limiter, sms_countries=settings.codes.sms_countries,
                                support_phone=preset.support_phone)

    def throttle(name: str) -> Throttle:
        return Throttle(name, store, captcha, settings.limits)

    wk = settings.passkeys
    rp = relying_party(settings.public_url, preset.product_name, wk.rp_id, tuple(wk.origins)) if wk.enabled else None
    ceremonies: list[Ceremony] = [PasskeyCeremony(db, rp)] if rp else []
    totp_codes = TotpCodes(db, keyring, clock)
    second_factors: list[SecondFactor] = [TotpLogin(totp_codes), RecoveryCodeLogin(keyring)]
    reauth = ReauthService(db, clock, sessions, policy, throttle("reauth"),
                           [PasswordReauth(hasher), TotpReauth(totp_codes)], settings.sessions.reauth_window_seconds,
                           ceremonies, second_factor_types=frozenset(m.credential_type for m in second_factors))
    login = LoginService(
        db=db, clock=clock, limits=settings.limits, limiter=limiter, throttle=throttle("signin"),
        second_factor_throttle=throttle("second-factor"), policy=policy, sessions=sessions,
        identifiers={**default_finders(db), "card": CardFinder(db, keyring)},
        enabled_identifiers=preset.signin_identifiers, captcha_always_on=preset.captcha_always_on,
        first_factors=[PasswordLogin(hasher), TemporaryPasswordLogin(db, codes, clock)],
        second_factors=second_factors, ceremonies=ceremonies,
        signed_flows=SignedFlows(keyring, PasskeyCeremony.id) if rp else None,
        signin_notice=SignInNotice(outbox, sms_countries, time_zone(settings.time_zone) or dt.UTC),
        wake_courier=worker.wake,
    )
    registration = RegistrationService(
        RegistrationPolicy(enumeration_safe=enumeration_safe, captcha=preset.registration_captcha,
                           per_ip_per_hour=settings.limits.registration_per_ip_per_hour,
                           consent_version=preset.consent_version, public_url=settings.public_url),
        forms=RegistrationForms(get_variant(preset.registration), policy=policy,
                                sms_countries=settings.codes.sms_countries, segments=[s.id for s in preset.segments],
                                card_owner=contracts.card_owner, explicit=not enumeration_safe),
        proof=RegistrationCode(code, keyring), db=db, clock=clock, passwords=policy, hasher=hasher,
        captcha=captcha, limiter=limiter, outbox=outbox, catalog=catalog, sessions=sessions,
        wake_courier=worker.wake, card_linker=contracts.link_registered_card, external_linker=link_registered,
    )
    providers = [Provider.of(p) for p in settings.social.providers]
    social = SocialSignIn(db=db, clock=clock, client=FederationClient(providers), public_url=settings.public_url,
                          login=login, reauth=reauth, sessions=sessions, outbox=outbox, sms_countries=sms_countries,
                          wake_courier=worker.wake, enumeration_safe=enumeration_safe)
    contacts = ContactService(proof=ContactCode(code), reauth=reauth, db=db, clock=clock, limiter=limiter,
                              outbox=outbox, catalog=catalog, sms_countries=settings.codes.sms_countries,
                              signin_identifiers=preset.signin_identifiers, wake_courier=worker.wake)
    required = preset.require_company if settings.require_company is None else settings.require_company
    companies = CompanyService(proof=CompanyCode(code), db=db, clock=clock, limiter=limiter, required=required)
    levels_on = preset.account_levels if settings.levels.enabled is None else settings.levels.enabled
    passport = PassportSeal(keyring)
    verifier: Verifier = (RegistryVerifier(settings.levels, settings.public_url)
                          if settings.levels.verifier == "registry" else OperatorQueue())
    verification = VerificationService(db=db, clock=clock, verifier=verifier, catalog=catalog, outbox=outbox,
                                       sms_countries=sms_countries, wake_courier=worker.wake, enabled=levels_on,
                                       email_by_link=registration.variant.email_by_link,
                                       requests_per_day=settings.levels.requests_per_day, keyring=keyring,
                                       entries=[CatalogueEntry(e.id, e.min_level, e.name) for e in settings.levels.services]
                                       if settings.levels.services is not None
                                       else [CatalogueEntry(i, level) for i, level in preset.services])
    letter_codes = LetterCodes(keyring)
    oidc = OidcProvider(issuer=settings.public_url, db=db, keyring=keyring, clock=clock, store=store,
                        settings=settings.oidc, levels=reachable_levels(levels_on))
    return Services(
        settings=settings,
        preset=preset,
        catalog=catalog,
        keyring=keyring,
        clock=clock,
        db=db,
        store=store,
        captcha=captcha,
        outbox=outbox,
        csrf=Csrf(keyring, production=settings.production, public_url=settings.public_url,
                  trusted=settings.trusted_origins),
        sessions=sessions,
        sign_out=SignOut(db, sessions, clock, also=[oidc.signed_out]),
        registration=registration,
        login=login,
        worker=worker,
        hasher=hasher,
        reauth=reauth,
        recovery_codes=RecoveryCodeSettings(db, keyring, clock, reauth),
        passkeys=PasskeySettings(db=db, clock=clock, keyring=keyring, outbox=outbox, catalog=catalog,
                                 wake_courier=worker.wake, sms_countries=sms_countries, reauth=reauth, rp=rp),
        totp=TotpSettings(db, keyring, clock, reauth, totp_codes, preset.product_name),
        passcode_login=PasscodeLogin(db, clock, hasher, limiter, login.per_ip, login),
        passcode=PasscodeSettings(db, clock, hasher, reauth,
                                  preset.passcode if settings.passcode is None else settings.passcode),
        password_change=PasswordChangeService(db=db, clock=clock, hasher=hasher, keyring=keyring, outbox=outbox,
                                              policy=policy, sessions=sessions, wake_courier=worker.wake,
                                              sms_countries=sms_countries, reauth=reauth, ended=[oidc.sessions_ended]),
        recovery=RecoveryService(db=db, clock=clock, captcha=captcha, codes=codes, limiter=limiter,
                                 wake_courier=worker.wake, sms_countries=sms_countries, sender=sender,
                                 per_ip_per_hour=settings.limits.recovery_per_ip_per_hour,
                                 enumeration_safe=enumeration_safe, by_email=preset.recovery_by_email,
                                 support_phone=preset.support_phone),
        deletion=DeletionService(db=db, clock=clock, reauth=reauth,
                                 erasers=[erase_settings, erase_companies, erase_links, erase_passkeys, erase_social,
                                          end_account_grants, erase_identity, erase_support,
                                          erase_statements]),
        profile=ProfileService(db, clock, email_by_link=registration.variant.email_by_link, levels_on=levels_on),
        contacts=contacts,
        notification_settings=NotificationSettingsService(
            db, clock, catalog, sms_countries=settings.codes.sms_countries, consent_version=preset.consent_version),
        companies=companies,
        contracts=contracts,
        oidc=oidc,
        history=History(db, clock, settings.sessions.idle_timeout_seconds, ended=[oidc.sessions_ended]),
        importer=ContractImporter(db, keyring),
        user_importer=UserImporter(db),
        account_search=AccountSearch(db, keyring, clock),
        account_actions=AccountActions(db, clock, sessions, ended=[oidc.sessions_ended], also=[end_account_grants],
                                       factors=[erase_second_factors, erase_passkeys, end_devices],
                                       notify=account_notifier(outbox, sms_countries), wake_courier=worker.wake),
        verification=verification,
        verification_queue=VerificationQueue(db, clock, verification.answer_in, worker.wake,
                                             notify=account_notifier(outbox, sms_countries), enabled=levels_on,
                                             passports=passport.check),
        esign=SignatureService(db=db, clock=clock, check=configured_check(settings.levels),
                               notify=account_notifier(outbox, sms_countries), wake_courier=worker.wake,
                               enabled=levels_on, product=preset.product_name,
                               minutes=settings.levels.esign_statement_minutes),
        support=SupportService(db=db, clock=clock, max_open=settings.support.max_open,
                               per_day=settings.support.requests_per_day),
        support_queue=SupportQueue(db, clock, notify=preferred_notifier(outbox, sms_countries), wake_courier=worker.wake),
        letters=LetterService(db=db, clock=clock, codes=letter_codes, notify=account_notifier(outbox, sms_countries),
                              wake_courier=worker.wake, enabled=levels_on,
                              code_days=settings.levels.letter_code_days),
        print_queue=PrintQueue(db, clock, letter_codes, enabled=levels_on),
        bank=BankConfirmation(db=db, clock=clock, client=social.client, public_url=settings.public_url,
                              notify=account_notifier(outbox, sms_countries), wake_courier=worker.wake,
                              enabled=levels_on, passport=passport),
        social=social,
        social_settings=SocialSettings(db=db, clock=clock, providers=social.providers, reauth=reauth, outbox=outbox,
                                       sms_countries=sms_countries, wake_courier=worker.wake),
        social_registration=SocialRegistration(db=db, clock=clock, registration=registration,
                                               providers={p.id: p for p in social.providers}),
        legal=LegalDocuments.load(preset.name),
        housekeeping=housekeeping(settings.housekeeping, db, clock, keyring),
    )
