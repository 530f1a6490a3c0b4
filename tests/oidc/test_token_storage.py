"""What a code exchange writes, kept small (migration 0043): the grants' indexes, and the tokens'
unique hash index without the access tokens' NULLs (on SQLite the rows live in the primary key's
b-tree) — with refresh-token hashes still unique and found by their index."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from dostup.oidc.provider.records import Subject
from dostup.oidc.provider.store import GrantStore
from dostup.services import Services
from tests.flows.helpers import phone_e164, register
from tests.support import ApiSurface


async def _indexes(services: Services, table: str) -> dict[str, tuple[list[str], bool]]:
    async with services.db.read() as s:
        conn = await s.connection()
        found = await conn.run_sync(lambda c: inspect(c).get_indexes(table))
    return {i["name"]: (list(i["column_names"]), bool(i["unique"])) for i in found}


async def test_the_exchange_writes_one_grant_index_per_query_and_no_hash_for_an_access_token(
        services: Services) -> None:
    assert await _indexes(services, "oidc_grants") == {
        "ix_oidc_grants_client_account": (["client_id", "account_id"], False),
        "ix_oidc_grants_code_id": (["code_id"], False),
        "ix_oidc_grants_session_id": (["session_id"], False)}
    assert await _indexes(services, "oidc_tokens") == {
        "ix_oidc_tokens_grant_id": (["grant_id"], False),
        "uq_oidc_tokens_token_hash": (["token_hash"], True)}
    async with services.db.read() as s:
        if services.db.url.startswith("sqlite"):
            sql = (await s.execute(text("SELECT sql FROM sqlite_master WHERE name = 'oidc_tokens'"))).scalar_one()
            assert sql.rstrip().endswith("WITHOUT ROWID")
            sql = "SELECT sql FROM sqlite_master WHERE name = 'uq_oidc_tokens_token_hash'"
        else:
            sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_oidc_tokens_token_hash'"
        assert "token_hash IS NOT NULL" in (await s.execute(text(sql))).scalar_one()


async def test_refresh_hashes_stay_unique_and_access_tokens_share_the_null(
        services: Services, client_factory) -> None:
    account = (await register(ApiSurface(client_factory()), phone_e164(7)))
    async with services.db.read() as s:
        account_id = (await s.execute(text("SELECT id FROM accounts WHERE phone = :p"), {"p": account})).scalar_one()
    store, now = GrantStore(services.db), services.clock.now()
    subject = Subject(account_id, None, now, "urn:dostup:loa:1:aal1", ("pwd",))
    later = now + dt.timedelta(minutes=5)
    for jti in ("jti-1", "jti-2"):  # two access tokens: no hash each
        await store.save_tokens(subject=subject, client_id="rp", scope="openid", access_jti=jti, access_expires=later,
                                refresh=None, refresh_expires=later, now=now)
    await store.save_tokens(subject=subject, client_id="rp", scope="openid offline_access", access_jti="jti-3",
                            access_expires=later, refresh="refresh-1", refresh_expires=later, now=now)
    with pytest.raises(IntegrityError):
        await store.save_tokens(subject=subject, client_id="rp", scope="openid offline_access", access_jti="jti-4",
                                access_expires=later, refresh="refresh-1", refresh_expires=later, now=now)
    found = await store.refresh_token("refresh-1", now)
    assert found is not None and found.client_id == "rp"
