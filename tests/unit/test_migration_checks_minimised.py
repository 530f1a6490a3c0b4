"""Revision 0050 takes the copy of the person out of the profile checks answered or cancelled before it, on
both backends; a check still waiting keeps it (the operators' queue shows it), and so do letters (their
address) and the bank's records."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from dostup.persistence.migrate import migrate
from tests.unit.test_migration_letters import _accounts, _requests
from tests.unit.test_migrations_match_models import fresh_url  # noqa: F401 - the fixture: an empty database per backend

AT = dt.datetime(2026, 11, 20, 9, 30)
PERSON = {"passport_series": "4510", "passport_number": "123456", "birth_date": "1990-05-18"}
_profiles = sa.table("identity_profiles", sa.column("account_id", sa.String), sa.column("level", sa.Integer),
                     sa.column("no_middle_name", sa.Boolean), sa.column("checked", sa.JSON),
                     sa.column("updated_at", sa.DateTime))


async def test_answered_and_cancelled_checks_lose_their_copy_of_the_person(fresh_url: str) -> None:  # noqa: F811
    await migrate(fresh_url, revision="0049")
    engine = create_async_engine(fresh_url)
    rows = [("approved", "operator", PERSON), ("rejected", "registry", PERSON), ("cancelled", "operator", PERSON),
            ("submitted", "operator", PERSON), ("printed", "letter", {"address": {"postcode": "101000"}}),
            ("approved", "bank", {"provider": "bank"})]
    try:
        async with engine.begin() as conn:
            await conn.execute(_accounts.insert().values(id="a1", state="active", role="customer", locale="ru",
                                                         created_at=AT, updated_at=AT))
            await conn.execute(_profiles.insert().values(account_id="a1", level=2, no_middle_name=False,
                                                         checked=PERSON, updated_at=AT))
            await conn.execute(_requests.insert(), [
                {"id": f"r{i}", "account_id": "a1", "level": 2, "state": state, "verifier": verifier, "data": data,
                 "created_at": AT, "updated_at": AT} for i, (state, verifier, data) in enumerate(rows)])
        await migrate(fresh_url, revision="0050")
        async with engine.connect() as conn:
            data = dict((await conn.execute(sa.select(_requests.c.id, _requests.c.data))).all())
            checked = (await conn.execute(sa.select(_profiles.c.checked))).scalar_one()
    finally:
        await engine.dispose()
    assert [data[f"r{i}"] for i in range(len(rows))] == [
        {}, {}, {}, PERSON, {"address": {"postcode": "101000"}}, {"provider": "bank"}]
    assert checked is None
