"""Typed settings, read once from ``DOSTUP_*`` environment variables and passed down.

Top-level names are flat (``DOSTUP_DATABASE_URL``); sections are nested with a double underscore
(``DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE=20``).  Every number in SECURITY.md is a setting here,
with the document's value as its default.  :func:`load_settings` refuses a production start that
lacks a secret key, uses the dev outbox or has any other unsafe setting, naming the setting.

Two fences, both checked at start and both naming the ``DOSTUP_…`` variable:

* every number has bounds (``Field(ge=…, le=…)``) that refuse nonsense in any mode — a 1-digit code,
  a minimum password length of 0, a million code attempts.  Development keeps room below SECURITY.md
  (tests shorten cooldowns, the bench raises per-IP limits to 10⁸);
* in production, :data:`PRODUCTION_FLOORS` refuses any value weaker than SECURITY.md's
  (OWASP ASVS 5.0 V6/V7, NIST SP 800-63B §3.1, the OWASP Password Storage cheat sheet for argon2id).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

DAY = 24 * 3600
MANY = 1_000_000_000  # the ceiling for counters: the bench raises per-IP limits to 10⁸


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it (``DOSTUP_…``)."""


class PasswordSettings(BaseModel):
    min_length: int = Field(default=8, ge=1, le=128)
    max_length: int = Field(default=128, ge=8, le=4096)
    max_bytes: int = Field(default=4096, ge=64, le=64 * 1024)
    argon2_memory_kib: int = Field(default=19 * 1024, ge=8, le=4 * 1024 * 1024)
    argon2_time_cost: int = Field(default=2, ge=1, le=64)
    argon2_parallelism: int = Field(default=1, ge=1, le=64)
    hash_threads: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, le=256)

    @model_validator(mode="after")
    def _max_above_min(self) -> PasswordSettings:
        if self.max_length < self.min_length:
            raise ValueError("DOSTUP_PASSWORDS__MAX_LENGTH must not be below DOSTUP_PASSWORDS__MIN_LENGTH")
        return self


class CodeSettings(BaseModel):
    length: int = Field(default=6, ge=4, le=12)
    ttl_seconds: int = Field(default=600, ge=30, le=DAY)
    email_ttl_seconds: int = Field(default=3600, ge=30, le=7 * DAY)  # the recovery's temporary password by email only
    max_attempts: int = Field(default=5, ge=1, le=20)
    resend_cooldown_seconds: int = Field(default=60, ge=0, le=DAY)
    per_destination_per_hour: int = Field(default=5, ge=1, le=MANY)
    per_destination_per_day: int = Field(default=10, ge=1, le=MANY)
    per_ip_per_hour: int = Field(default=10, ge=1, le=MANY)
    sms_countries: list[str] = ["RU"]
    sms_daily_budget: int = Field(default=5000, ge=1, le=MANY)
    sms_budget_hard_stop: bool = True


class LimitSettings(BaseModel):
    signin_per_ip_per_minute: int = Field(default=10, ge=1, le=MANY)
    signin_captcha_after_failures: int = Field(default=5, ge=1, le=MANY)
    signin_lock_after_failures: int = Field(default=10, ge=1, le=MANY)
    signin_lock_step_seconds: int = Field(default=60, ge=1, le=DAY)
    signin_lock_max_seconds: int = Field(default=900, ge=1, le=DAY)
    signin_failure_window_seconds: int = Field(default=12 * 3600, ge=60, le=30 * DAY)
    registration_per_ip_per_hour: int = Field(default=30, ge=1, le=MANY)
    recovery_per_ip_per_hour: int = Field(default=20, ge=1, le=MANY)


class SessionSettings(BaseModel):
    idle_timeout_seconds: int = Field(default=30 * 60, ge=60, le=30 * DAY)
    absolute_timeout_seconds: int = Field(default=12 * 3600, ge=60, le=365 * DAY)
    remember_timeout_seconds: int = Field(default=30 * DAY, ge=60, le=365 * DAY)
    reauth_window_seconds: int = Field(default=15 * 60, ge=1, le=DAY)
    touch_interval_seconds: int = Field(default=60, ge=0, le=3600)


class CaptchaSettings(BaseModel):
    provider: Literal["altcha", "smartcaptcha", "recaptcha", "none"] = "altcha"
    max_number: int = Field(default=100_000, ge=1, le=100_000_000)
    ttl_seconds: int = Field(default=600, ge=10, le=DAY)
    server_key: str = ""
    verify_url: str = ""
    site_key: str = ""


class SmtpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    username: str = ""
    password: str = ""
    starttls: bool = False
    use_tls: bool = False
    sender: str = "Dostup <no-reply@localhost>"
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)


class SmsSettings(BaseModel):
    url: str = ""
    method: Literal["POST", "GET"] = "POST"
    body_template: str = '{"to": "{to}", "text": "{text}"}'
    content_type: str = "application/json"
    auth_header: str = ""
    sender: str = ""
    api_id: str = ""
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # The HTTP gateway gets the message id in this header, so that it can drop a repeated send
    # (after a crash mid-send); empty: not sent.
    idempotency_header: str = "Idempotency-Key"


class DatabaseSettings(BaseModel):
    """How long a request waits for PostgreSQL before it answers 503 (SECURITY.md «Outages»).

    A stopped database refuses connections at once; a frozen one (a network partition: packets
    dropped, nothing refused; or a hung server) would hold a request for as long as it lasts.
    Each wait has its limit, enforced by Dostup itself (the server may be unable to): opening a
    connection (``connect``), one statement (``statement``: the client gives up, and the server
    cancels it if it still can), and getting a connection for a unit of work (``pool``): waiting
    for a free one in the pool and opening a new one share one budget, the longer of ``pool`` and
    ``connect``, so the two never add up.  Once one unit of work finds the database unavailable,
    the units still queued for a connection are refused at once and only one request at a time
    (the probe) waits for it (``persistence.db.Breaker``).  With the defaults every request is
    answered within the statement timeout (3 s) plus the time it spends on its own work: 3.1-3.8
    s measured for 55 requests at the moment of a freeze (tests/resilience).  ``pool_size``
    connections (plus as many overflow) per process.  SQLite needs none of these (its waits for
    the lock are bounded on their own).
    """

    connect_timeout_seconds: float = Field(default=2.0, ge=0.1, le=60)
    statement_timeout_seconds: float = Field(default=3.0, ge=0.1, le=3600)
    pool_timeout_seconds: float = Field(default=2.0, ge=0.1, le=600)
    pool_size: int = Field(default=10, ge=1, le=1000)
    # SQLite only: the page cache of the session reader's connection (every signed-in request reads
    # its session, account and company through it).  SQLite's default is 2 MiB per connection: at
    # 10^6 accounts the B-tree leaves of a few thousand active sessions no longer fit, and each miss
    # is a read from the OS cache (docs/scaling.md).  Memory is taken as pages are read, up to this.
    sqlite_reader_cache_mib: int = Field(default=64, ge=1, le=65536)
    # SQLite only: the same for the web process's own write connection, on which sign-in and
    # registration read the account by its phone, email or login and write their rows (its own
    # commits keep its cache; another connection's empty it).
    sqlite_loop_cache_mib: int = Field(default=64, ge=1, le=65536)


class CourierSettings(BaseModel):
    email_provider: Literal["dev", "smtp"] = "dev"
    sms_provider: Literal["dev", "http", "smsru"] = "dev"
    worker_in_process: bool = True
    poll_interval_seconds: float = Field(default=1.0, gt=0, le=3600)
    # After a wake-up the courier waits this long before claiming (an SMS takes seconds anyway):
    # the request that queued the message answers first (its time does not include the
    # delivery), and a burst of messages is claimed and recorded as one batch.
    gather_seconds: float = Field(default=0.1, ge=0, le=5)
    max_attempts: int = Field(default=12, ge=1, le=1000)
    backoff_base_seconds: float = Field(default=5.0, ge=0, le=DAY)
    backoff_max_seconds: float = Field(default=3600.0, ge=0, le=7 * DAY)
    operator_email: str = ""
    batch_size: int = Field(default=20, ge=1, le=1000)  # messages claimed at once
    # How long a claim keeps other workers off a message, kept alive while a batch is sent; by
    # default the longest send timeout + 3 s (dostup.courier.worker.claim_seconds).  A dead
    # worker's batch waits this long.
    claim_seconds: float | None = Field(default=None, ge=0.1, le=DAY)


class ContractSettings(BaseModel):
    """Linked contracts (SPEC §4.7): where the company's registry lives and how hard guessing is.

    ``registry = "table"`` reads the built-in table (``dostup admin import-contracts``);
    ``"http"`` asks the billing system at ``url`` (see ``dostup.accounts.contracts.HttpRegistry``
    for the request and answer).  ``auth_header`` is sent as is (``Authorization: Bearer …``).
    """

    registry: Literal["table", "http"] = "table"
    url: str = ""
    timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    auth_header: str = ""
    guesses_per_account_per_hour: int = Field(default=10, ge=1, le=MANY)
    guesses_per_ip_per_hour: int = Field(default=30, ge=1, le=MANY)
    secret_tries_per_number_per_hour: int = Field(default=10, ge=1, le=MANY)
    flow_ttl_seconds: int = Field(default=900, ge=60, le=DAY)

    @model_validator(mode="after")
    def _url_for_http(self) -> ContractSettings:
        if self.registry == "http" and not self.url.startswith(("http://", "https://")):
            raise ValueError("registry 'http' needs DOSTUP_CONTRACTS__URL (an http:// or https:// URL)")
        return self


class CatalogService(BaseModel):
    """One service of the catalogue (SPEC §4.8): ``name`` as shown, or empty for the catalog's
    ``services.<id>`` text (the presets' own catalogues); the lowest level that may use it."""

    id: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    name: str = Field(default="", max_length=200)
    min_level: int = Field(default=1, ge=1, le=3)


class EsignRevocationSettings(BaseModel):
    """Revocation of the certificates behind a built-in e-signature check
    (:mod:`dostup.selfservice.verification.esign.revocation`; RFC 5280 §6.3): the CRL at each certificate's
    ``http://`` distribution point, for the signer's certificate and every intermediate.

    ``mode``: ``strict`` (the default, in every mode) refuses a signature whose certificates' status cannot be
    found out — no distribution point; a list that is unreachable, larger than ``max_bytes``, stale or not
    signed by the issuing CA.  ``soft_fail`` accepts it then (a warning is logged and the confirmation's event
    says ``revocation: unknown``): only for an operator whose CAs' lists are known to fail, who accepts that
    whoever can block the list's host can pass a revoked certificate.  ``timeout_seconds`` bounds a whole
    download; a list is kept until its ``nextUpdate``, at most ``cache_seconds`` (a revocation published
    meanwhile is seen that much later; 0: fetched for every signature).  ``ocsp``: where a certificate names an
    ``http://`` OCSP responder, its answer is asked for first and the CRL read only when it gives none
    (:mod:`dostup.selfservice.verification.esign.ocsp`).  ``failure_cache_seconds``: a distribution point or
    responder that failed is not asked again for so long (during a CA's outage a signature is answered at once,
    not after ``timeout_seconds`` per point; a mended CA is seen that much later; 0: asked every time)."""

    mode: Literal["strict", "soft_fail"] = "strict"
    ocsp: bool = True
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    cache_seconds: int = Field(default=3600, ge=0, le=7 * DAY)
    failure_cache_seconds: int = Field(default=30, ge=0, le=600)


class LevelSettings(BaseModel):
    """Levels of assurance (SPEC §4.8): «Упрощённая» → «Стандартная» → «Подтверждённая».

    ``enabled``: None lets the preset decide (gosuslugi: on).  ``verifier`` checks the full profile:
    ``operator`` (built in: the operators' review queue) or ``registry`` (an external registry over HTTP:
    Dostup POSTs each request to ``registry_url``, signed with ``registry_secret``, and the registry
    answers later at ``/api/v1/verification/registry/callback``, signed with the same secret; see
    ``dostup.selfservice.verification.verifiers.RegistryVerifier``).  ``services`` replaces the preset's
    service catalogue (a JSON list of ``{"id", "name", "min_level"}``).  ``letter_code_days``: how long the
    code of a registered letter («Подтверждённая учётная запись» by post) may be entered, from the request.

    «Подтверждённая» by a qualified e-signature (``dostup.selfservice.verification.esign``): ``esign``
    chooses the check — ``builtin`` (a CMS signature checked in Python, RSA/ECDSA, against the trusted roots
    in ``esign_trusted_roots``, PEM files) or ``service`` (an external verification service at
    ``esign_service_url``, requests signed with ``esign_service_secret``; it handles GOST).  Off unless the
    chosen check is configured.  ``esign_statement_minutes``: how long a statement may be signed;
    ``esign_revocation``: how the built-in check finds out that a certificate was revoked (above).
    """

    enabled: bool | None = None
    verifier: Literal["operator", "registry"] = "operator"
    registry_url: str = ""
    registry_secret: str = ""
    registry_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    callback_window_seconds: int = Field(default=300, ge=10, le=3600)  # a signed answer's age limit (replays)
    requests_per_day: int = Field(default=5, ge=1, le=MANY)  # submissions an account may make a day
    letter_code_days: int = Field(default=30, ge=7, le=180)  # a registered letter's code: the post takes weeks
    services: list[CatalogService] | None = None
    esign: Literal["builtin", "service"] = "builtin"
    esign_trusted_roots: list[str] = []  # PEM files of the CAs whose personal certificates are accepted
    esign_service_url: str = ""
    esign_service_secret: str = ""
    esign_service_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    esign_statement_minutes: int = Field(default=30, ge=5, le=24 * 60)
    esign_revocation: EsignRevocationSettings = EsignRevocationSettings()

    @property
    def esign_configured(self) -> bool:
        return bool(self.esign_service_url if self.esign == "service" else self.esign_trusted_roots)

    @model_validator(mode="after")
    def _esign_configured(self) -> LevelSettings:
        if self.esign == "service" and self.esign_service_url:
            if not self.esign_service_url.startswith(("http://", "https://")):
                raise ValueError("DOSTUP_LEVELS__ESIGN_SERVICE_URL must be an http:// or https:// URL")
            if len(self.esign_service_secret) < 32:
                raise ValueError("esign 'service' needs DOSTUP_LEVELS__ESIGN_SERVICE_SECRET of at least 32 characters")
        for path in self.esign_trusted_roots if self.esign == "builtin" else ():
            try:
                text = Path(path).read_bytes()
            except OSError as exc:
                raise ValueError(f"DOSTUP_LEVELS__ESIGN_TRUSTED_ROOTS: cannot read {path}: {exc.strerror}") from None
            if b"-----BEGIN CERTIFICATE-----" not in text:
                raise ValueError(f"DOSTUP_LEVELS__ESIGN_TRUSTED_ROOTS: {path} holds no PEM certificate")
        return self

    @model_validator(mode="after")
    def _registry_configured(self) -> LevelSettings:
        if self.verifier == "registry":
            if not self.registry_url.startswith(("http://", "https://")):
                raise ValueError("verifier 'registry' needs DOSTUP_LEVELS__REGISTRY_URL (an http:// or https:// URL)")
            if len(self.registry_secret) < 32:
                raise ValueError("verifier 'registry' needs DOSTUP_LEVELS__REGISTRY_SECRET of at least 32 characters")
        ids = [s.id for s in self.services or ()]
        if len(set(ids)) != len(ids):
            raise ValueError("DOSTUP_LEVELS__SERVICES: service ids must be unique")
        return self


class SupportSettings(BaseModel):
    """Support requests («Обращения», SPEC §4.14): how many an account may keep open (not closed yet) and
    start in any 24 hours.  Small by default: support reads every one, and a script writing them must not
    bury the queue."""

    max_open: int = Field(default=3, ge=1, le=100)
    requests_per_day: int = Field(default=5, ge=1, le=1000)


class OidcSettings(BaseModel):
    """Lifetimes of the OpenID Connect provider's artefacts (issue 12; RFC 9700 §2.1.1, §4.14)."""

    code_seconds: int = Field(default=60, ge=5, le=600)  # authorization codes: single use, 60 s
    access_token_seconds: int = Field(default=300, ge=30, le=3600)  # RFC 9068 JWTs, checked against revocation
    id_token_seconds: int = Field(default=600, ge=60, le=86400)
    refresh_token_seconds: int = Field(default=30 * 86400, ge=300, le=365 * 86400)  # rotated on every use
    key_activation_delay_seconds: int = Field(default=3600, ge=0, le=30 * 86400)  # `rotate-keys`: publish first
    request_seconds: int = Field(default=900, ge=60, le=3600)  # a request waiting for sign-in or consent
    backchannel_timeout_seconds: float = Field(default=3.0, ge=0.1, le=30.0)


class HousekeepingSettings(BaseModel):
    """What the housekeeping job (``dostup.persistence.housekeeping``) deletes, and when.

    Whoever delivers the outbox runs it every ``interval_seconds``: ``dostup worker``, or each web
    process where the courier runs in-process (its first run one interval after it starts); ``dostup admin
    purge`` once.  A row goes ``grace_seconds`` after it expired: flows (a late answer still reads
    «срок истёк», not «не найден»), one-time codes, the limiter's counters, spent passkey
    challenges, OpenID Connect codes (a used code replayed within the grace still revokes what it
    issued, RFC 6749 §4.1.2) and tokens.  An ended
    session — expired, or revoked (signed out, ended from «Активные сеансы», rotated) — goes
    ``ended_sessions_seconds`` after it ended: nothing reads it any more (the active-sessions list
    shows live ones only, the security history is ``security_events``), so it is kept only for an
    operator looking into yesterday in the database.  Security events are the user's security
    history: kept for ever unless ``security_events_days`` is set.  A support request, with its messages, goes
    ``support_requests_days`` after it was closed (3 years, the general limitation period of the Civil Code
    art. 196: long enough to answer for what support said; never kept for ever, 152-ФЗ art. 5 §7).  Deletes
    run ``batch_size``
    rows a transaction with ``pause_seconds`` between them, so the SQLite write lock is never held
    long.
    """

    enabled: bool = True  # `dostup worker` runs it; `dostup admin purge` runs regardless
    interval_seconds: int = Field(default=300, ge=10, le=DAY)
    grace_seconds: int = Field(default=3600, ge=0, le=30 * DAY)
    ended_sessions_seconds: int = Field(default=DAY, ge=0, le=365 * DAY)
    security_events_days: int = Field(default=0, ge=0, le=100 * 365)  # 0: kept for ever
    support_requests_days: int = Field(default=3 * 365, ge=30, le=10 * 365)  # after they were closed
    batch_size: int = Field(default=1000, ge=10, le=100_000)
    pause_seconds: float = Field(default=0.05, ge=0, le=60)

    @field_validator("security_events_days")
    @classmethod
    def _a_history_worth_the_name(cls, v: int) -> int:
        if 0 < v < 30:
            raise ValueError("0 (kept for ever) or at least 30 days: it is the user's security history")
        return v


class WebAuthnSettings(BaseModel):
    """Passkeys (``dostup.credentials.passkeys``): on by default; the RP ID and origins come from
    ``DOSTUP_PUBLIC_URL`` unless given here (e.g. an app on a sub-domain, a mobile app's origin)."""

    enabled: bool = True
    rp_id: str = ""
    origins: list[str] = []


SOCIAL_KINDS = ("oidc", "yandex", "vk", "sber")


class SocialProvider(BaseModel):
    """One provider of «Войти через …» (issue 11): ``kind`` picks the protocol and its defaults.

    ``oidc`` needs ``issuer`` (discovery, JWKS, ID-token checks); ``yandex`` (Yandex ID, OAuth 2.0 and
    its user-info endpoint), ``vk`` (VK ID, OAuth 2.1 with PKCE) and ``sber`` (Sber ID, OpenID
    Connect) carry their providers' documented endpoints as defaults, each overridable here.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,23}$")
    kind: Literal["oidc", "yandex", "vk", "sber"]
    name: str = Field(min_length=1, max_length=64)
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: str = Field(default="", max_length=1024)
    issuer: str = ""
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    userinfo_endpoint: str = ""
    jwks_uri: str = ""
    scopes: list[str] = []
    trusted: bool = False  # its verified phone / email count as confirmed at registration (not when enumeration-safe)
    # a bank whose verified claims confirm identity: «Подтверждённая» for a «Стандартная» account whose checked
    # profile they match (SPEC §4.8; OpenID kinds only: the claims come in a signed ID token and userinfo)
    confirms_identity: bool = False
    sign_in: bool = True  # offered for «Войти через …» (sign-in, registration, linking); false: it only confirms identity
    icon: str = Field(default="", max_length=512)
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @model_validator(mode="after")
    def _needs(self) -> SocialProvider:
        if self.kind == "oidc" and not self.issuer:
            raise ValueError(f"provider '{self.id}': kind 'oidc' needs an issuer")
        if self.kind == "sber" and not (self.issuer and self.jwks_uri):
            raise ValueError(f"provider '{self.id}': kind 'sber' needs issuer and jwks_uri (from the Sber ID contract)")
        if not (self.sign_in or self.confirms_identity):
            raise ValueError(f"provider '{self.id}': sign_in false is for a bank that confirms_identity")
        if self.confirms_identity and self.kind not in ("oidc", "sber"):
            raise ValueError(f"provider '{self.id}': confirms_identity needs an OpenID Connect kind (oidc, sber)")
        if self.kind in ("oidc", "sber", "yandex") and not self.client_secret:
            raise ValueError(f"provider '{self.id}': client_secret is required (client_secret_basic)")
        for name in ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "icon"):
            value = getattr(self, name)
            if value and not value.startswith(("https://", "http://")) and not (name == "icon" and value.startswith("/")):
                raise ValueError(f"provider '{self.id}': {name} must be an https:// URL")
        return self


class SocialSettings(BaseModel):
    """``DOSTUP_SOCIAL__PROVIDERS``: a JSON list of :class:`SocialProvider`."""

    providers: list[SocialProvider] = []

    @model_validator(mode="after")
    def _unique(self) -> SocialSettings:
        ids = [p.id for p in self.providers]
        if len(set(ids)) != len(ids):
            raise ValueError("provider ids must be unique")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DOSTUP_", env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./dostup.db"
    redis_url: str = ""
    redis_prefix: str = "{dostup}:"  # a hash tag: every limiter key in one slot, so its scripts run on Redis Cluster
    redis_cluster: bool = False  # DOSTUP_REDIS_URL is a node of a Redis Cluster (redis-py's RedisCluster)
    # Each Redis connect and command fails after this (a 503, fail closed): a frozen Redis must not hang sign-ins.
    redis_timeout_seconds: float = Field(default=1.0, gt=0, le=60)
    preset: Literal["kit", "rostelecom", "gosuslugi", "sber"] = "kit"
    secret_key: str = ""
    public_url: str = "http://localhost:8000"  # a domain: passkeys need one (never an IP address)
    trusted_origins: list[str] = []
    enumeration_safe: bool | None = None  # None: the preset decides (sber: on, the others: explicit answers)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    forwarded_allow_ips: str = "127.0.0.1"
    require_company: bool | None = None  # None: the preset decides (kit: a confirmed company completes registration)
    # Times on the pages are shown in the browser's time zone (static/tz.js sets a cookie); this one
    # until the browser has said (the API keeps UTC, ISO 8601).
    time_zone: str = "Europe/Moscow"
    passcode: bool | None = None  # the 5-digit «Код для входа» per device; None: the preset decides (sber: on)

    passwords: PasswordSettings = PasswordSettings()
    codes: CodeSettings = CodeSettings()
    limits: LimitSettings = LimitSettings()
    sessions: SessionSettings = SessionSettings()
    captcha: CaptchaSettings = CaptchaSettings()
    smtp: SmtpSettings = SmtpSettings()
    sms: SmsSettings = SmsSettings()
    courier: CourierSettings = CourierSettings()
    db: DatabaseSettings = DatabaseSettings()
    contracts: ContractSettings = ContractSettings()
    oidc: OidcSettings = OidcSettings()
    passkeys: WebAuthnSettings = WebAuthnSettings()
    social: SocialSettings = SocialSettings()
    housekeeping: HousekeepingSettings = HousekeepingSettings()
    levels: LevelSettings = LevelSettings()
    support: SupportSettings = SupportSettings()

    @model_validator(mode="after")
    def _provider_urls(self) -> Settings:
        """A provider's endpoints are https://; an http:// loopback one only in development (tests)."""
        for i, p in enumerate(self.social.providers):
            for name in ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
                url = getattr(p, name)
                if url.startswith("http://") and (self.env == "production" or _cleartext_elsewhere(url)):
                    raise ValueError(f"DOSTUP_SOCIAL__PROVIDERS[{i}].{name} ('{p.id}') must be an https:// URL "
                                     "(http:// only to this machine, in development)")
        return self

    @model_validator(mode="after")
    def _claim_outlasts_a_send(self) -> Settings:
        claim, longest = self.courier.claim_seconds, max(self.sms.timeout_seconds, self.smtp.timeout_seconds)
        if claim is not None and claim <= longest:
            raise ValueError(f"DOSTUP_COURIER__CLAIM_SECONDS ({claim}) must be longer than the longest send timeout "
                             f"(DOSTUP_SMS__TIMEOUT_SECONDS / DOSTUP_SMTP__TIMEOUT_SECONDS: {longest})")
        return self

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. Europe/Moscow)") from None
        return v

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


_DEV_SECRET_FILE = ".dostup-dev-secret"  # noqa: S105 - a file name


def _dev_secret(directory: Path) -> str:
    """In development a random key is kept beside the database so workers and restarts agree."""
    path = directory / _DEV_SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _cleartext_elsewhere(url: str) -> bool:
    """An ``http://`` URL to another machine: credentials and personal data would cross the network
    in clear (a gateway on the same host, e.g. a sidecar, is fine)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme == "http" and (parts.hostname or "") not in _LOOPBACK


# (variable, "min" | "max", SECURITY.md's value): in production a value below a "min" or above a "max"
# is weaker than SECURITY.md and refuses the start.  Counts of tries and sends are ceilings, code
# lengths, hash costs and lock times are floors, lifetimes of codes and sessions are ceilings.
PRODUCTION_FLOORS: tuple[tuple[str, Literal["min", "max"], int], ...] = (
    ("PASSWORDS__MIN_LENGTH", "min", 8),
    ("PASSWORDS__MAX_LENGTH", "min", 128),
    ("PASSWORDS__MAX_BYTES", "max", 4096),
    ("PASSWORDS__ARGON2_MEMORY_KIB", "min", 19 * 1024),
    ("PASSWORDS__ARGON2_TIME_COST", "min", 2),
    ("CODES__LENGTH", "min", 6),
    ("CODES__TTL_SECONDS", "max", 600),
    ("CODES__EMAIL_TTL_SECONDS", "max", 3600),
    ("CODES__MAX_ATTEMPTS", "max", 5),
    ("CODES__RESEND_COOLDOWN_SECONDS", "min", 60),
    ("CODES__PER_DESTINATION_PER_HOUR", "max", 5),
    ("CODES__PER_DESTINATION_PER_DAY", "max", 10),
    ("CODES__PER_IP_PER_HOUR", "max", 10),
    ("LIMITS__SIGNIN_PER_IP_PER_MINUTE", "max", 10),
    ("LIMITS__SIGNIN_CAPTCHA_AFTER_FAILURES", "max", 5),
    ("LIMITS__SIGNIN_LOCK_AFTER_FAILURES", "max", 10),
    ("LIMITS__SIGNIN_LOCK_STEP_SECONDS", "min", 60),
    ("LIMITS__SIGNIN_LOCK_MAX_SECONDS", "min", 900),
    ("LIMITS__SIGNIN_FAILURE_WINDOW_SECONDS", "min", 12 * 3600),
    ("SESSIONS__IDLE_TIMEOUT_SECONDS", "max", 30 * 60),
    ("SESSIONS__ABSOLUTE_TIMEOUT_SECONDS", "max", 12 * 3600),
    ("SESSIONS__REMEMBER_TIMEOUT_SECONDS", "max", 30 * DAY),
    ("SESSIONS__REAUTH_WINDOW_SECONDS", "max", 15 * 60),
    ("MAX_BODY_BYTES", "max", 64 * 1024),
)


def _value(settings: Settings, name: str) -> int:
    obj: object = settings
    for part in name.lower().split("__"):
        obj = getattr(obj, part)
    assert isinstance(obj, int)
    return obj


def weaker_than_security_md(settings: Settings) -> list[str]:
    """Each setting weaker than SECURITY.md's value, as a message naming its variable."""
    problems = []
    for name, kind, limit in PRODUCTION_FLOORS:
        value = _value(settings, name)
        if kind == "min" and value < limit:
            problems.append(f"DOSTUP_{name} must be at least {limit} in production (SECURITY.md), not {value}")
        elif kind == "max" and value > limit:
            problems.append(f"DOSTUP_{name} must be at most {limit} in production (SECURITY.md), not {value}")
    return problems


def check_production(settings: Settings) -> None:
    problems = weaker_than_security_md(settings)
    if len(settings.secret_key) < 32:
        problems.append("DOSTUP_SECRET_KEY must be set to at least 32 random characters")
    if settings.courier.email_provider == "dev":
        problems.append("DOSTUP_COURIER__EMAIL_PROVIDER must not be 'dev' (the dev outbox) in production")
    if settings.courier.sms_provider == "dev":
        problems.append("DOSTUP_COURIER__SMS_PROVIDER must not be 'dev' (the dev outbox) in production")
    if not settings.public_url.startswith("https://"):
        problems.append("DOSTUP_PUBLIC_URL must be an https:// URL in production")
    if settings.captcha.provider == "none":
        problems.append("DOSTUP_CAPTCHA__PROVIDER must not be 'none' in production")
    # The outbound services carry phone numbers, codes and API keys.
    outbound = [
        ("DOSTUP_SMS__URL", settings.sms.url if settings.courier.sms_provider == "http" else ""),
        ("DOSTUP_CONTRACTS__URL", settings.contracts.url if settings.contracts.registry == "http" else ""),
        ("DOSTUP_CAPTCHA__VERIFY_URL", settings.captcha.verify_url),
        ("DOSTUP_LEVELS__REGISTRY_URL", settings.levels.registry_url if settings.levels.verifier == "registry" else ""),
    ]
    for name, url in outbound:
        if url and _cleartext_elsewhere(url):
            problems.append(f"{name} must be an https:// URL in production (http:// only to this machine)")
    if problems:
        raise SettingsError("; ".join(problems))


def load_settings(env: dict[str, str] | None = None, workdir: Path | None = None) -> Settings:
    """Build settings from the environment (or ``env``), validate them, fill development defaults."""
    source = dict(os.environ if env is None else env)
    try:
        if env is None:
            settings = Settings()
        else:
            saved = dict(os.environ)
            try:
                for k in [k for k in os.environ if k.upper().startswith("DOSTUP_")]:
                    del os.environ[k]
                os.environ.update({k: v for k, v in source.items() if k.upper().startswith("DOSTUP_")})
                settings = Settings()
            finally:
                os.environ.clear()
                os.environ.update(saved)
    except ValidationError as exc:
        names = []
        for err in exc.errors():
            path = "__".join(str(p) for p in err["loc"]).upper()
            names.append(f"DOSTUP_{path}: {err['msg']}" if path else str(err["msg"]).removeprefix("Value error, "))
        raise SettingsError("; ".join(names)) from None
    except PydanticSettingsError as exc:  # a nested value that is not JSON (e.g. DOSTUP_SOCIAL__PROVIDERS)
        import re

        found = re.search(r'field "([a-z_]+)"', str(exc))
        name = f"DOSTUP_{found.group(1).upper()}__…" if found else "DOSTUP_*"
        raise SettingsError(f"{name}: not valid JSON ({exc})") from None
    if settings.production:
        check_production(settings)
    elif not settings.secret_key:
        settings.secret_key = _dev_secret(workdir or Path.cwd())
    return settings
