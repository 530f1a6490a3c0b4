"""The courier's parts from the settings: its channels, and the whole of a ``dostup worker`` process.

``dostup worker`` needs nothing of the flows, the web or the identity provider: building it here
instead of through :func:`dostup.services.build_services` keeps a delivering process to the courier,
the database and the settings (issue 13 §0: ``dostup worker`` resident memory, ``bench/memory.py``).
"""

from __future__ import annotations

from dostup.core.clock import Clock, SystemClock
from dostup.courier.channels import Channel
from dostup.courier.channels.dev import DevOutboxChannel
from dostup.courier.channels.sms import HttpSmsChannel, SmsRuChannel
from dostup.courier.channels.smtp import SmtpChannel
from dostup.courier.worker import Worker, claim_seconds
from dostup.persistence.db import Database, Timeouts
from dostup.settings import Settings


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


def db_timeouts(settings: Settings) -> Timeouts:
    """The database's waits (``DOSTUP_DB__*``), for every engine and the session reader."""
    return Timeouts(**settings.db.model_dump(exclude={"sqlite_reader_cache_mib", "sqlite_loop_cache_mib"}))


def courier_worker(settings: Settings, db: Database, clock: Clock) -> Worker:
    """The worker with its channels and the claim sized to their send timeouts."""
    claim = claim_seconds(settings.courier, [settings.sms.timeout_seconds, settings.smtp.timeout_seconds])
    return Worker(settings.courier, db, make_channels(settings), clock, claim)


def courier_process(settings: Settings) -> tuple[Worker, Database]:
    """The worker of a ``dostup worker`` process and the database it owns (dispose it after)."""
    db = Database(settings.database_url, timeouts=db_timeouts(settings))
    return courier_worker(settings, db, SystemClock()), db
