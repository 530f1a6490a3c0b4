"""What the flows share, built once in ``app.py`` and handed to each flow's service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dostup.core.clock import Clock
from dostup.core.crypto import Keyring
from dostup.core.i18n import Catalog
from dostup.courier.outbox import Outbox
from dostup.credentials.codes import CodeService
from dostup.credentials.password import PasswordHasher, PasswordPolicy
from dostup.guards.captcha import CaptchaVerifier
from dostup.guards.limits import Limiter
from dostup.persistence.db import Database
from dostup.presets import Preset
from dostup.session.service import SessionService
from dostup.settings import Settings


@dataclass
class FlowDeps:
    settings: Settings
    preset: Preset
    db: Database
    clock: Clock
    keyring: Keyring
    catalog: Catalog
    hasher: PasswordHasher
    policy: PasswordPolicy
    codes: CodeService
    limiter: Limiter
    captcha: CaptchaVerifier
    outbox: Outbox
    sessions: SessionService
    wake_courier: Callable[[], None]
