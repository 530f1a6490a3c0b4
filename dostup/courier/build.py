"""The courier's parts from the settings: its channels, and the whole of a ``dostup worker`` process.

``dostup worker`` needs nothing of the flows, the web or the identity provider: building it here
instead of through :func:`dostup.services.build_services` keeps a delivering process to the courier,
the housekeeping job, the database and the settings (issue 13 §0: ``dostup worker`` resident
memory, ``bench/memory.py``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from dostup.core.clock import Clock, SystemClock
from dostup.core.crypto import Keyring
from dostup.core.passport import CHECK, PROFILE, PassportSealer
from dostup.courier.channels import Channel
from dostup.courier.channels.dev import DevOutboxChannel
from dostup.courier.channels.registry import RegistryChannel
from dostup.courier.channels.sms import HttpSmsChannel, SmsRuChannel
from dostup.courier.channels.smtp import SmtpChannel
from dostup.courier.worker import Worker, claim_seconds
from dostup.persistence.db import Database, Timeouts
from dostup.persistence.housekeeping import Housekeeping, Retention
from dostup.persistence.reseal import Reseal
from dostup.settings import HousekeepingSettings, Settings


def make_channels(settings: Settings, clock: Clock | None = None) -> dict[str, Channel]:
    c = settings.courier
    email: Channel = SmtpChannel(settings.smtp) if c.email_provider == "smtp" else DevOutboxChannel()
    sms: Channel
    if c.sms_provider == "http":
        sms = HttpSmsChannel(settings.sms)
    elif c.sms_provider == "smsru":
        sms = SmsRuChannel(settings.sms)
    else:
        sms = DevOutboxChannel()
    channels = {"email": email, "sms": sms}
    if settings.levels.verifier == "registry":  # verification requests to the identity registry (SPEC §4.8)
        channels["registry"] = RegistryChannel(settings.levels, clock or SystemClock(),
                                               PassportSealer(Keyring(settings.secret_key), CHECK))
    return channels


def db_timeouts(settings: Settings) -> Timeouts:
    """The database's waits (``DOSTUP_DB__*``), for every engine and the session reader."""
    return Timeouts(**settings.db.model_dump(exclude={"sqlite_reader_cache_mib", "sqlite_loop_cache_mib"}))


def courier_worker(settings: Settings, db: Database, clock: Clock) -> Worker:
    """The worker with its channels and the claim sized to their send timeouts."""
    timeouts = [settings.sms.timeout_seconds, settings.smtp.timeout_seconds]
    if settings.levels.verifier == "registry":
        timeouts.append(settings.levels.registry_timeout_seconds)
    claim = claim_seconds(settings.courier, timeouts)
    return Worker(settings.courier, db, make_channels(settings, clock), clock, claim)


def housekeeping(settings: HousekeepingSettings, db: Database, clock: Clock,
                 keyring: Keyring | None = None) -> Housekeeping:
    """The housekeeping job with the retention of ``DOSTUP_HOUSEKEEPING__*``; with the instance's ``keyring`` it
    also seals the passports written in clear before they were sealed (:mod:`dostup.persistence.reseal`)."""
    reseal = None if keyring is None else Reseal(
        db, profiles=PassportSealer(keyring, PROFILE), checks=PassportSealer(keyring, CHECK),
        batch_size=settings.batch_size, pause_seconds=settings.pause_seconds)
    return Housekeeping(db, clock.now, Retention(
        grace=dt.timedelta(seconds=settings.grace_seconds),
        ended_sessions=dt.timedelta(seconds=settings.ended_sessions_seconds),
        security_events=dt.timedelta(days=settings.security_events_days) if settings.security_events_days else None,
        support_requests=dt.timedelta(days=settings.support_requests_days),
        batch_size=settings.batch_size, pause_seconds=settings.pause_seconds), reseal)


@dataclass
class CourierProcess:
    """What a ``dostup worker`` process runs: the courier and, every few minutes, housekeeping."""

    worker: Worker
    housekeeping: Housekeeping
    settings: HousekeepingSettings
    db: Database

    async def run(self) -> None:
        """Both until cancelled (each outlives its own failures), then the database closed."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.worker.run_forever(), name="courier")
                if self.settings.enabled:
                    tasks.create_task(self.housekeeping.run_forever(self.settings.interval_seconds),
                                      name="housekeeping")
        finally:
            await self.db.dispose()


def courier_process(settings: Settings) -> CourierProcess:
    """The worker of a ``dostup worker`` process, its housekeeping and the database they own."""
    db = Database(settings.database_url, timeouts=db_timeouts(settings))
    clock = SystemClock()
    return CourierProcess(courier_worker(settings, db, clock),
                          housekeeping(settings.housekeeping, db, clock, Keyring(settings.secret_key)),
                          settings.housekeeping, db)
