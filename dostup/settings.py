"""Typed settings, read once from ``DOSTUP_*`` environment variables and passed down.

Top-level names are flat (``DOSTUP_DATABASE_URL``); sections are nested with a double underscore
(``DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE=20``).  Every number in SECURITY.md is a setting here,
with the document's value as its default.  :func:`load_settings` refuses a production start that
lacks a secret key, uses the dev outbox or has any other unsafe setting, naming the setting.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it (``DOSTUP_…``)."""


class PasswordSettings(BaseModel):
    min_length: int = 8
    max_length: int = 128
    max_bytes: int = 4096
    argon2_memory_kib: int = 19 * 1024
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    hash_threads: int = Field(default_factory=lambda: os.cpu_count() or 2)


class CodeSettings(BaseModel):
    length: int = 6
    ttl_seconds: int = 600
    email_ttl_seconds: int = 3600
    max_attempts: int = 5
    resend_cooldown_seconds: int = 60
    per_destination_per_hour: int = 5
    per_destination_per_day: int = 10
    per_ip_per_hour: int = 10
    sms_countries: list[str] = ["RU"]
    sms_daily_budget: int = 5000
    sms_budget_hard_stop: bool = True


class LimitSettings(BaseModel):
    signin_per_ip_per_minute: int = 10
    signin_captcha_after_failures: int = 5
    signin_lock_after_failures: int = 10
    signin_lock_step_seconds: int = 60
    signin_lock_max_seconds: int = 900
    signin_failure_window_seconds: int = 12 * 3600
    registration_per_ip_per_hour: int = 30
    recovery_per_ip_per_hour: int = 20


class SessionSettings(BaseModel):
    idle_timeout_seconds: int = 30 * 60
    absolute_timeout_seconds: int = 12 * 3600
    remember_timeout_seconds: int = 30 * 24 * 3600
    reauth_window_seconds: int = 15 * 60
    touch_interval_seconds: int = 60


class CaptchaSettings(BaseModel):
    provider: Literal["altcha", "smartcaptcha", "recaptcha", "none"] = "altcha"
    max_number: int = 100_000
    ttl_seconds: int = 600
    server_key: str = ""
    verify_url: str = ""
    site_key: str = ""


class SmtpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 25
    username: str = ""
    password: str = ""
    starttls: bool = False
    use_tls: bool = False
    sender: str = "Dostup <no-reply@localhost>"
    timeout_seconds: float = 10.0


class SmsSettings(BaseModel):
    url: str = ""
    method: Literal["POST", "GET"] = "POST"
    body_template: str = '{"to": "{to}", "text": "{text}"}'
    content_type: str = "application/json"
    auth_header: str = ""
    sender: str = ""
    api_id: str = ""
    timeout_seconds: float = 10.0


class CourierSettings(BaseModel):
    email_provider: Literal["dev", "smtp"] = "dev"
    sms_provider: Literal["dev", "http", "smsru"] = "dev"
    worker_in_process: bool = True
    poll_interval_seconds: float = 1.0
    # After a wake-up the courier waits this long before claiming (an SMS takes seconds anyway):
    # the request that queued the message answers first (its time does not include the
    # delivery), and a burst of messages is claimed and recorded as one batch.
    gather_seconds: float = Field(default=0.1, ge=0, le=5)
    max_attempts: int = 12
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 3600.0
    operator_email: str = ""


class ContractSettings(BaseModel):
    """Linked contracts (SPEC §4.7): where the company's registry lives and how hard guessing is.

    ``registry = "table"`` reads the built-in table (``dostup admin import-contracts``);
    ``"http"`` asks the billing system at ``url`` (see ``dostup.accounts.contracts.HttpRegistry``
    for the request and answer).  ``auth_header`` is sent as is (``Authorization: Bearer …``).
    """

    registry: Literal["table", "http"] = "table"
    url: str = ""
    timeout_seconds: float = 5.0
    auth_header: str = ""
    guesses_per_account_per_hour: int = 10
    guesses_per_ip_per_hour: int = 30
    secret_tries_per_number_per_hour: int = 10
    flow_ttl_seconds: int = 900

    @model_validator(mode="after")
    def _url_for_http(self) -> ContractSettings:
        if self.registry == "http" and not self.url.startswith(("http://", "https://")):
            raise ValueError("registry 'http' needs DOSTUP_CONTRACTS__URL (an http:// or https:// URL)")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DOSTUP_", env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./dostup.db"
    redis_url: str = ""
    redis_prefix: str = "dostup:"
    preset: Literal["kit", "rostelecom", "gosuslugi", "sber"] = "kit"
    secret_key: str = ""
    public_url: str = "http://127.0.0.1:8000"
    trusted_origins: list[str] = []
    enumeration_safe: bool = False
    max_body_bytes: int = 64 * 1024
    forwarded_allow_ips: str = "127.0.0.1"
    require_company: bool | None = None  # None: the preset decides (kit: a confirmed company completes registration)

    passwords: PasswordSettings = PasswordSettings()
    codes: CodeSettings = CodeSettings()
    limits: LimitSettings = LimitSettings()
    sessions: SessionSettings = SessionSettings()
    captcha: CaptchaSettings = CaptchaSettings()
    smtp: SmtpSettings = SmtpSettings()
    sms: SmsSettings = SmsSettings()
    courier: CourierSettings = CourierSettings()
    contracts: ContractSettings = ContractSettings()

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


def check_production(settings: Settings) -> None:
    problems: list[str] = []
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
            names.append(f"DOSTUP_{path}: {err['msg']}")
        raise SettingsError("; ".join(names)) from None
    if settings.production:
        check_production(settings)
    elif not settings.secret_key:
        settings.secret_key = _dev_secret(workdir or Path.cwd())
    return settings
