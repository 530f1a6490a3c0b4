"""Every hot query is served by an index (issue 13 §1), on SQLite and on PostgreSQL.

The database gets a few thousand customers (``bench/bulk_seed.py``, the scale bench's own seeder:
accounts, sessions, ten security events each, messages, companies, contracts, cards, credentials,
OIDC rows) and fresh statistics (``ANALYZE``), so the planners decide as they would in production;
no planner switch is forced.  Then the hot paths run through the real app and use-cases — whoami,
sign-in by phone / email / login / SNILS / card, registration up to the code and its confirmation,
recovery, the history pages of both surfaces (first and next page), sessions, companies, contracts,
OIDC codes, tokens and consents, support requests (the account's list, the operators' queue), the registered
letters' print queue, and housekeeping's deletes (and its ending of expired letters) — and every statement they send is recorded: SQLite's own trace of
each connection (the statements with their values), SQLAlchemy's ``before_cursor_execute`` on
PostgreSQL (plus the session reader's own asyncpg query).  Each recorded statement is then
explained on the same database (``EXPLAIN QUERY PLAN`` / ``EXPLAIN``), and the test fails on any
full scan of a table that grows with the customers: ``SCAN <table>`` on SQLite, ``Seq Scan on
<table>`` on PostgreSQL.  Tables bounded by configuration (partners, signing keys) may be scanned.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench import bulk_seed as seed
from dostup.accounts.history import encode_cursor
from dostup.accounts.support import erase_support
from dostup.admin.audit import operator_actions
from dostup.admin.search import SearchInput
from dostup.core.context import Context
from dostup.core.crypto import Keyring
from dostup.oidc.provider.records import AccessClaims, Subject
from dostup.oidc.provider.store import GrantStore, access_jti
from dostup.persistence.housekeeping import TARGETS, Housekeeping
from dostup.selfservice.contracts import CardFinder
from dostup.selfservice.login.finders import default_finders
from dostup.session import reader
from tests.flows.helpers import PASSWORD, register
from tests.support import ApiSurface, captcha_token

ACCOUNTS = 3000
SMALL = {"oidc_clients", "oidc_keys", "alembic_version"}  # bounded by configuration, not by customers
# Bounded by time: the last few minutes of passkey sign-ins, deleted as they expire (one answer in 256
# and housekeeping), and left unindexed on purpose — a passkey sign-in's commit writes one page for
# it (tests/flows/test_write_pages.py).  Its purges read it whole.
SHORT_LIVED = {"spent_challenges"}
_LIMIT = re.compile(r"\bLIMIT\b", re.I)
# the development outbox (/dev/outbox, ``last_code`` in the tests): not served in production
_DEV = re.compile(r"FROM outbox ORDER BY", re.I)
_SKIP = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA|ANALYZE|SELECT pg_|SELECT 1\b|"
                   r"select pg_|show |SET |select current_schema|SELECT CAST|select version)", re.I)


@pytest.fixture
def settings_overrides() -> dict[str, str]:
    """Levels of assurance on (their queries are among the hot ones; where they are off, their calls are 404)."""
    return {"DOSTUP_LEVELS__ENABLED": "true"}


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every statement sent while the test runs (set up before the services open connections)."""
    found: list[Any] = []
    original = sqlite3.connect

    def connect(*args: Any, **kw: Any) -> sqlite3.Connection:
        conn = original(*args, **kw)
        conn.set_trace_callback(found.append)  # the statement with its values bound
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", connect)

    def listener(conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
        if conn.dialect.name == "postgresql":
            found.append((statement, parameters[0] if many and parameters else parameters))

    event.listen(Engine, "before_cursor_execute", listener)
    yield found
    event.remove(Engine, "before_cursor_execute", listener)


async def _seed(services: Any) -> None:
    shared = await services.hasher.hash(PASSWORD)
    await seed.bulk_seed(services.settings.database_url, services.settings.secret_key, seed.Plan(ACCOUNTS),
                         progress=False, hashes=([], shared), fast=False)
    await _seed_levels(services)


async def _seed_levels(services: Any) -> None:
    """Levels of assurance (SPEC §4.8; the bench's seeder writes none): every customer a profile at level 2, a
    refused request and a later answered one, one in ten still waiting for the operators; then fresh statistics."""
    from sqlalchemy import insert, text

    from dostup.persistence.models_levels import IdentityProfile, VerificationRequest

    now = services.clock.now()
    ids = [seed.rid("a", n) for n in range(2, ACCOUNTS)]
    async with services.db.write() as s:
        await s.execute(insert(IdentityProfile), [{"account_id": i, "level": 2, "no_middle_name": False,
                                                   "updated_at": now} for i in ids])
        await s.execute(insert(VerificationRequest), [
            {"id": f"v{n:031d}", "account_id": i, "level": 2, "state": "submitted" if n % 10 == 0 else "approved",
             "verifier": "operator", "data": {}, "created_at": now - dt.timedelta(seconds=n), "updated_at": now}
            for n, i in enumerate(ids)])
        # and an earlier one refused (sent again after a typo): an account has a few requests, not one, and the
        # planner, told one row per account, would sort that row rather than read the index in order
        await s.execute(insert(VerificationRequest), [
            {"id": f"u{n:031d}", "account_id": i, "level": 2, "state": "rejected", "verifier": "operator", "data": {},
             "created_at": now - dt.timedelta(days=1, seconds=n), "updated_at": now} for n, i in enumerate(ids)])
    await _seed_letters(services, ids)
    await _seed_support(services, ids)
    async with services.db.write() as s:
        await s.execute(text("ANALYZE"))


async def _seed_letters(services: Any, ids: list[str]) -> None:
    """Registered letters (SPEC §4.8): one customer in seven ordered one — printed and waiting for its code, or still
    in the print queue; a few of them expired and not ended yet (housekeeping ends them)."""
    from sqlalchemy import insert

    from dostup.accounts.letters import LetterCodes
    from dostup.persistence.models_levels import VerificationRequest

    codes, now = LetterCodes(Keyring(services.settings.secret_key)), services.clock.now()
    rows = []
    for n, i in enumerate(ids[::7]):
        rid, at = f"l{n:031d}", now - dt.timedelta(days=5, seconds=n)
        code_hash, sealed = codes.new(rid)
        printed = n % 2 == 1
        data = {"address": {"postcode": "170100"}, "code_hash": code_hash, "tries": 0,
                "printed_at": at.isoformat() if printed else None, **({} if printed else {"code_sealed": sealed})}
        rows.append({"id": rid, "account_id": i, "level": 3, "state": "submitted", "verifier": "letter", "data": data,
                     "created_at": at, "updated_at": at, "queued_at": None if printed else at,
                     "expires_at": now - dt.timedelta(hours=1) if n % 25 == 0 else now + dt.timedelta(days=25)})
    async with services.db.write() as s:
        await s.execute(insert(VerificationRequest), rows)


async def _seed_support(services: Any, ids: list[str]) -> None:
    """Support requests (SPEC §4.14; the bench's seeder writes none): every customer one answered and one closed
    request with their messages, one in ten a request still waiting for the operators; one closed request in
    fifty is past its retention (housekeeping deletes it)."""
    from sqlalchemy import insert

    from dostup.persistence.models_support import SupportMessage, SupportRequest

    now = services.clock.now()
    reqs, msgs = [], []
    for n, i in enumerate(ids):
        states = ["answered", "closed"] + (["open"] if n % 10 == 0 else [])
        for k, state in enumerate(states):
            rid = f"q{k}{n:030d}"
            at = now - dt.timedelta(seconds=3 * n + k)
            closed = (now - dt.timedelta(days=4 * 365) if n % 50 == 0 else at) if state == "closed" else None
            reqs.append({"id": rid, "account_id": i, "topic": "other", "state": state, "created_at": at,
                         "updated_at": at, "queued_at": at, "closed_at": closed})
            msgs += [{"id": f"m{k}{j}{n:029d}", "request_id": rid, "seq": j + 1,
                      "author": "customer" if j == 0 else "operator", "text": "вопрос", "created_at": at}
                     for j in range(2 if state != "open" else 1)]
    async with services.db.write() as s:
        await s.execute(insert(SupportRequest), reqs)
        await s.execute(insert(SupportMessage), msgs)


async def _scenario(services: Any, client_factory: Any) -> None:
    """The hot paths, through the app where it has them and through the use-cases otherwise."""
    n = 42
    api = ApiSurface(client_factory())
    bearer = {"Authorization": f"Bearer {seed.session_token(n)}"}
    who = await api.client.get("/api/v1/whoami", headers=bearer)
    assert who.status_code == 200, who.text
    for path in ("/api/v1/security-events", "/api/v1/notifications"):
        first = await api.client.get(path, params={"per_page": 1}, headers=bearer)
        assert first.status_code == 200 and len(first.json()["items"]) == 1, first.text
        nxt = await api.client.get(path, params={"per_page": 1, "before": first.json()["next"]}, headers=bearer)
        assert nxt.status_code == 200 and nxt.json()["items"], nxt.text
    for path in ("/api/v1/sessions", "/api/v1/companies", "/api/v1/contracts"):
        assert (await api.client.get(path, headers=bearer)).status_code == 200, path
    ui = client_factory()
    ui.cookies.set("dostup_session", seed.session_token(n))
    for path in ("/security", "/notifications"):
        assert (await ui.get(path)).status_code == 200, path

    # sign-in: the API with a phone, and every identifier's finder (what the sign-in looks up first)
    signin = await api.client.post("/api/v1/login", json={"method": "phone", "phone": seed.phone(n + 1),
                                                          "password": PASSWORD})
    assert signin.status_code == 200, signin.text
    finders = {**default_finders(services.db), "card": CardFinder(services.db, Keyring(services.settings.secret_key))}
    for kind, value in (("phone", seed.phone(n)), ("email", seed.email(n)), ("login", seed.login(n)),
                        ("snils", seed.snils(n)), ("card", seed.card_number(40))):
        assert await finders[kind].find(value) is not None, kind

    # registration up to the code and its confirmation (signed in afterwards), then sign-out
    newcomer = ApiSurface(client_factory())
    await register(newcomer, "+79123456789")
    assert (await newcomer.logout()).ok

    # recovery of a seeded account
    rec = await api.client.post("/api/v1/recovery", json={"phone": seed.phone(n + 2),
                                                          "captcha": await captcha_token(api.client, "recover")})
    assert rec.status_code == 200, rec.text
    # a failed unit of work gives its limit counts back (the SQL counter store: SQLite here, and
    # PostgreSQL without Redis); the seeded counters stand for every live limit
    await services.store.give_back([f"bench:signin-fail:{seed.phone(n)}"])
    # a contract already linked to another cabinet: registry look-up and link look-up
    link = await api.client.post("/api/v1/contracts", json={"kind": "contract", "number": seed.contract_number(40)},
                                 headers=bearer)
    assert link.status_code < 500, link.text

    # operator search by every identifier (and its audit row)
    for by, value in (("phone", seed.phone(40)), ("email", seed.email(40)), ("login", seed.login(40)),
                      ("snils", seed.snils(40)), ("inn", seed.inn(40)), ("contract", seed.contract_number(40)),
                      ("card", seed.card_number(40))):
        found = await services.account_search.find(seed.rid("a", 1), SearchInput(by, value, "plan check"), Context())
        assert [a.id for a in found] == [seed.rid("a", 40)], by
    # the operator console: an account's card, block and unblock, and an operator's audit trail by pages
    actions, op = services.account_actions, seed.rid("a", 1)
    assert (await actions.card(op, seed.rid("a", 41), "plan check", Context())).id == seed.rid("a", 41)
    await actions.block(op, "operator", seed.rid("a", 41), "plan check", Context())
    await actions.unblock(op, "operator", seed.rid("a", 41), "plan check", Context())
    trail = await operator_actions(services.db, op, None)
    # levels of assurance: the status and profile, the operators' queue by pages, an answer, a change lowering it
    await services.profile.status(seed.rid("a", n))
    queue = await services.verification_queue.pending(op, "plan check", None, Context())
    await services.verification_queue.pending(op, "plan check", queue.next, Context())
    await services.verification_queue.decide(op, "admin", queue.items[0].id, approved=False, reason="plan check",
                                             ctx=Context())
    await services.profile.update_names(seed.rid("a", n), {"middle_name": "Петрович"}, Context())
    await operator_actions(services.db, op, encode_cursor(trail.items[0].created_at, trail.items[0].id))

    # the registered letters' print queue by pages (oldest first, the expired left out), a batch marked printed
    letters = await services.print_queue.waiting(op, "plan check", None, Context())
    assert len(letters.items) == 50 and letters.next is not None
    await services.print_queue.waiting(op, "plan check", letters.next, Context())
    await services.print_queue.mark_printed(op, [i.id for i in letters.items[:5]], "plan check", Context())

    # support requests: the customer's list, a request and a reply, a new one (its limits); the operators'
    # queue by pages, reading, answering and closing one; deleting an account's texts
    first_page = await api.client.get("/api/v1/support/requests", params={"per_page": 1}, headers=bearer)
    assert first_page.status_code == 200 and first_page.json()["next"], first_page.text
    older = await api.client.get("/api/v1/support/requests", params={"per_page": 1, "before": first_page.json()["next"]},
                                 headers=bearer)
    assert older.status_code == 200 and older.json()["requests"], older.text
    assert (await api.client.get(f"/api/v1/support/requests/q0{n - 2:030d}", headers=bearer)).status_code == 200
    made = await api.client.post("/api/v1/support/requests", json={"topic": "access", "text": "не приходит код"},
                                 headers=bearer)
    assert made.status_code == 201, made.text
    replied = await api.client.post(f"/api/v1/support/requests/{made.json()['id']}/messages", json={"text": "ещё"},
                                    headers=bearer)
    assert replied.status_code == 200, replied.text
    assert (await ui.get("/support")).status_code == 200
    waiting = await services.support_queue.waiting(None)
    assert waiting.next is not None
    await services.support_queue.waiting(waiting.next)
    first = waiting.items[0].id
    await services.support_queue.read(op, first, "plan check", Context())
    await services.support_queue.answer(op, "admin", first, "ответ", "plan check", Context())
    await services.support_queue.close(op, "admin", first, "plan check", Context())
    async with services.db.write() as s:
        await erase_support(s, seed.rid("a", n + 3), services.clock.now())

    # OIDC: codes, tokens, grants, consents
    store, now = GrantStore(services.db), services.clock.now()
    subject = Subject(seed.rid("a", n), seed.rid("s", n), now, "urn:dostup:loa:1:aal1", ("pwd",))
    await store.save_code("code-42", client_id="bench-client", subject=subject, redirect_uri="https://rp.example/cb",
                          scope="openid", nonce=None, challenge=None, method=None, now=now, ttl=60)
    code = await store.spend_code("code-42", "bench-client", now)
    assert code is not None
    await store.save_refresh(subject=code.subject(), scope="openid offline_access", refresh="refresh-42",
                             expires=now + dt.timedelta(days=1), now=now)
    access = AccessClaims(access_jti(code.id), code.id, "openid", now, now + dt.timedelta(minutes=5))
    token = await store.access_token(access, now)
    assert token is not None and not token.revoked
    await store.revoke_access(token, now)
    grant = code.id
    assert await store.refresh_token("refresh-42", now) is not None
    assert await store.spend_refresh("refresh-42", "bench-client", now) is not None
    await store.remember_consent(subject.account_id, "bench-client", ["openid"], now)
    assert await store.consented(subject.account_id, "bench-client", {"openid"})
    await store.consents(subject.account_id)
    await store.end_session(seed.rid("s", n), now)
    await store.revoke_grant(grant, now)
    await store.withdraw(subject.account_id, "bench-client", now)

    # housekeeping: every delete of every table, with the events' optional retention on too
    await services.housekeeping.purge()
    events_too = replace(services.housekeeping.retention, security_events=dt.timedelta(days=365))
    await Housekeeping(services.db, services.clock.now, events_too).purge()


def _sqlite_scans(path: str, statements: list[str]) -> dict[str, list[str]]:
    conn = sqlite3.dbapi2.Connection(path)  # not the recording connect
    bad: dict[str, list[str]] = {}
    try:
        for sql in dict.fromkeys(statements):
            if _SKIP.match(sql) or _DEV.search(sql) or re.match(r"\s*INSERT\b(?!.*\bSELECT\b)", sql, re.I | re.S):
                continue
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()]
            scans = [p for p in plan if (m := re.match(r"SCAN (\w+)", p)) and m.group(1) not in SMALL | SHORT_LIVED
                     and not m.group(1).startswith(("CONSTANT", "(subquery"))]
            if _LIMIT.search(sql):  # a page sorted after the fact has read every matching row first
                scans += [p for p in plan if p.startswith("USE TEMP B-TREE FOR ORDER BY")]
            if scans:
                bad[sql] = plan
    finally:
        conn.close()
    return bad


async def _pg_scans(url: str, statements: list[tuple[str, Any]]) -> dict[str, list[str]]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    bad: dict[str, list[str]] = {}
    try:
        seen: set[str] = set()
        for sql, params in statements:
            if sql in seen or _SKIP.match(sql) or _DEV.search(sql) or re.match(r"\s*INSERT\b(?!.*\bSELECT\b)", sql, re.I | re.S):
                continue
            seen.add(sql)
            args = list(params.values()) if isinstance(params, dict) else list(params or ())
            plan = [r[0] for r in await conn.fetch("EXPLAIN " + sql, *args)]
            scans = [p for p in plan if (m := re.search(r"Seq Scan on (\w+)", p)) and m.group(1) not in SMALL | SHORT_LIVED]
            if _LIMIT.search(sql):  # a Sort feeding a Limit read every matching row first
                scans += [p for i, p in enumerate(plan) if re.match(r"\s*->\s+Sort\b", p) and i
                          and re.match(r"\s*(->\s+)?Limit\b", plan[i - 1])]
            if scans:
                bad[sql] = plan
    finally:
        await conn.close()
    return bad


async def test_every_hot_query_is_served_by_an_index(recorded, services, client_factory):
    await _seed(services)
    recorded.clear()
    await _scenario(services, client_factory)
    url = services.settings.database_url
    if url.startswith("sqlite"):
        statements = [s for s in recorded if isinstance(s, str)]
        bad = _sqlite_scans(url.split("///", 1)[1], statements)
    else:
        statements = [s for s in recorded if isinstance(s, tuple)]
        statements.append((reader._SQL.format(p="$1"), ("0" * 64,)))  # the session reader's own asyncpg query
        bad = await _pg_scans(url, statements)
    assert len(statements) > 50, len(statements)  # the recording saw the scenario
    deleted_from = {m.group(1) for s in statements if (m := re.match(r"\s*DELETE FROM (\w+)", s if isinstance(s, str) else s[0]))}
    # every housekeeping delete is explained (and its UPDATE of expired letters, as every statement is)
    assert deleted_from >= {t.table for t in TARGETS} | {"support_messages", "support_requests"}, deleted_from
    report = "\n\n".join(f"{sql}\n  -> " + "\n  -> ".join(plan) for sql, plan in bad.items())
    assert not bad, f"{len(bad)} statements scan a whole table:\n{report}"
