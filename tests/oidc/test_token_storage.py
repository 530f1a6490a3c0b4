"""What a code exchange writes, kept small: only the code spent (its grant was written with it at
the authorization, and an access token has no row, its ``jti`` names its grant); a refresh token's
row for ``offline_access``.  The grants' indexes (migration 0043), and the tokens' unique hash index
without the NULLs of revoked access tokens' rows — with refresh-token hashes still unique and
found by their index."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from dostup.oidc.provider.records import AccessClaims, Subject
from dostup.oidc.provider.store import GrantStore, access_jti
from dostup.services import Services
from tests.flows.helpers import phone_e164, register
from tests.oidc.support import REDIRECT, add_client, code_for, pkce, signed_in_browser, unverified
from tests.support import ApiSurface


async def _indexes(services: Services, table: str) -> dict[str, tuple[list[str], bool]]:
    async with services.db.read() as s:
        conn = await s.connection()
        found = await conn.run_sync(lambda c: inspect(c).get_indexes(table))
    return {i["name"]: (list(i["column_names"]), bool(i["unique"])) for i in found}


async def test_one_grant_index_per_query_and_no_hash_for_an_access_token(services: Services) -> None:
    assert await _indexes(services, "oidc_grants") == {  # a replayed code revokes its grant by the primary key
        "ix_oidc_grants_client_account": (["client_id", "account_id"], False),
        "ix_oidc_grants_created_at": (["created_at"], False),  # housekeeping (migration 0045)
        "ix_oidc_grants_session_id": (["session_id"], False)}
    assert await _indexes(services, "oidc_tokens") == {
        "ix_oidc_tokens_expires_at": (["expires_at"], False),  # housekeeping (migration 0044)
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


async def _rows(services: Services) -> dict[str, int]:
    async with services.db.read() as s:
        return {t: (await s.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()  # noqa: S608 - our names
                for t in ("oidc_codes", "oidc_grants", "oidc_tokens")}


async def test_an_exchange_writes_no_grant_and_no_access_token_row(services: Services, client_factory: Any) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    verifier, challenge = pkce()
    before = await _rows(services)
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    authorized = await _rows(services)
    assert authorized == {**before, "oidc_codes": before["oidc_codes"] + 1, "oidc_grants": before["oidc_grants"] + 1}
    r = await client_factory().post("/oauth2/token", data={
        "grant_type": "authorization_code", "code": got["code"], "redirect_uri": REDIRECT, "code_verifier": verifier},
        auth=(rp["client_id"], rp["client_secret"]))
    assert r.status_code == 200, r.text
    assert await _rows(services) == authorized  # openid only: nothing but the code's used_at
    jti = unverified(r.json()["access_token"])[1]["jti"]
    grant, dot, tail = jti.partition(".")
    async with services.db.read() as s:
        code_id = (await s.execute(text("SELECT id FROM oidc_codes WHERE client_id = :c"),
                                   {"c": rp["client_id"]})).scalar_one()
    assert grant == code_id and dot and len(tail) == 16  # the grant is the code's
    info = await client_factory().get("/oauth2/userinfo", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert info.status_code == 200, info.text


async def test_refresh_hashes_stay_unique_and_revoked_access_tokens_share_the_null(
        services: Services, client_factory: Any) -> None:
    account = (await register(ApiSurface(client_factory()), phone_e164(7)))
    async with services.db.read() as s:
        account_id = (await s.execute(text("SELECT id FROM accounts WHERE phone = :p"), {"p": account})).scalar_one()
    store, now = GrantStore(services.db), services.clock.now()
    subject = Subject(account_id, None, now, "urn:dostup:loa:1:aal1", ("pwd",))
    await store.save_code("code-7", client_id="rp", subject=subject, redirect_uri=REDIRECT,
                          scope="openid offline_access", nonce=None, challenge=None, method=None, now=now, ttl=60)
    code = await store.spend_code("code-7", "rp", now)
    assert code is not None
    later = now + dt.timedelta(minutes=5)
    for _ in range(2):  # two access tokens revoked on their own: a row each, no hash
        claims = AccessClaims(access_jti(code.id), code.id, "openid", now, later)
        token = await store.access_token(claims, now)
        assert token is not None and not token.revoked
        await store.revoke_access(token, now)
        await store.revoke_access(token, now)  # again: nothing more
        revoked = await store.access_token(claims, now)
        assert revoked is not None and revoked.revoked
    await store.save_refresh(subject=code.subject(), scope="openid offline_access", refresh="refresh-1",
                             expires=later, now=now)
    with pytest.raises(IntegrityError):
        await store.save_refresh(subject=code.subject(), scope="openid offline_access", refresh="refresh-1",
                                 expires=later, now=now)
    found = await store.refresh_token("refresh-1", now)
    assert found is not None and found.client_id == "rp" and found.grant_id == code.id
    assert await store.access_token(AccessClaims("nope.0", "nope", "openid", now, later), now) is None  # no grant
