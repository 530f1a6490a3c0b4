"""What the worker tests share: the gateway settings, putting a message in the outbox, and
watching claims wait on row locks the test holds."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.courier.conftest import Gateway


def gateway_env(request: pytest.FixtureRequest, gateway: Gateway) -> dict[str, str]:
    """SMS through the local HTTP gateway, no in-process worker (the tests run it), plus any
    overrides given with :func:`with_settings`."""
    env = {
        "DOSTUP_COURIER__WORKER_IN_PROCESS": "false",
        "DOSTUP_COURIER__SMS_PROVIDER": "http",
        "DOSTUP_SMS__URL": gateway.url + "/sms",
        "DOSTUP_SMS__TIMEOUT_SECONDS": "5",
        "DOSTUP_COURIER__BACKOFF_BASE_SECONDS": "5",
    }
    env.update(getattr(request, "param", {}))
    return env


def with_settings(**env: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("settings_overrides", [env], indirect=True, ids=["settings"])


async def enqueue(services, to: str = "+79123456789", code: str = "731904", channel: str = "sms") -> str:
    async with services.db.write() as s:
        msg = services.outbox.enqueue(s, kind="registration_code", channel=channel, to=to,
                                           now=services.clock.now(), code=code, params={"minutes": 10})
    return str(msg.id)


async def claims_waiting_on_locks(services) -> int:
    """PostgreSQL: how many claiming UPDATEs wait on a row lock.  Read in a task of its own: the
    test holds the locks in an open write unit, and a unit of the same task inside it is refused
    (Database.write: nested units)."""

    async def count() -> int:
        async with services.db.read() as s:
            return int((await s.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE outbox%'"))).scalar_one())

    return await asyncio.create_task(count())
