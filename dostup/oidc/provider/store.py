"""Codes, grants and tokens in the database: the single-use and revocation rules live here.

* A code is spent by ``UPDATE … SET used_at WHERE used_at IS NULL`` bound to its client: of two
  racing exchanges one wins.  A code presented again revokes the grant it produced (RFC 6749
  §4.1.2, RFC 9700 §4.2.4): the tokens of a leaked code die with it.
* A refresh token is spent the same way and its successor issued in the same grant (rotation,
  RFC 9700 §4.14.2).  A spent refresh token presented again means one of two holders is an
  attacker: the whole family (the grant) is revoked.
* The grant (the family of tokens one sign-in at a partner opens) is written with its code, at the
  authorization, under the code's id; a code exchange then only spends the code.
* A JWT access token has no row: its ``jti`` names its grant (``{grant id}.{random}``, :func:`access_jti`),
  and userinfo and introspection read the grant, so a revoked grant stops its access tokens at
  once rather than at their expiry.  A token revoked on its own (RFC 7009) gets a row then, with
  ``revoked_at`` set, which the same read finds.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import and_, bindparam, exists, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.crypto import random_id, sha256_hex
from dostup.oidc.provider.records import AccessClaims, CodeRecord, Subject, TokenRecord
from dostup.persistence.db import Appends, Database, Raw
from dostup.persistence.models import Account
from dostup.persistence.models_oidc import OidcClient, OidcCode, OidcConsent, OidcGrant, OidcToken

_TOKEN_COLUMNS = (OidcToken.id, OidcToken.kind, OidcToken.grant_id, OidcGrant.client_id, OidcGrant.account_id,
                  OidcToken.scope, OidcToken.created_at, OidcToken.expires_at, OidcToken.revoked_at,
                  OidcToken.used_at, OidcGrant.revoked_at, OidcGrant.auth_time, OidcGrant.acr, OidcGrant.amr,
                  OidcGrant.session_id)


_SPEND_CODE = (update(OidcCode)
               .where(OidcCode.code_hash == bindparam("b_hash"), OidcCode.client_id == bindparam("b_client"),
                      OidcCode.used_at.is_(None), OidcCode.expires_at > bindparam("b_now"))
               .values(used_at=bindparam("b_now"))
               .returning(*OidcCode.__table__.columns))
# and the account's state: a closed account's refresh token gives nothing, even where its grant was not ended
_REFRESH_BY_HASH = (select(*_TOKEN_COLUMNS, Account.state).join(OidcGrant, OidcGrant.id == OidcToken.grant_id)
                    .join(Account, Account.id == OidcGrant.account_id)
                    .where(OidcToken.token_hash == bindparam("b_hash"), OidcToken.kind == "refresh"))
_SPEND_REFRESH = (update(OidcToken)
                  .where(OidcToken.id == bindparam("b_id"), OidcToken.used_at.is_(None),
                         OidcToken.revoked_at.is_(None), OidcToken.expires_at > bindparam("b_now"))
                  .values(used_at=bindparam("b_now")))
_USED_CODE = select(OidcCode.id).where(OidcCode.code_hash == bindparam("h"), OidcCode.used_at.is_not(None))


def _token(row: Any, now: dt.datetime) -> TokenRecord:
    revoked = row[8] is not None or row[10] is not None or (row[1] == "refresh" and row[9] is not None)
    return TokenRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], revoked, now, row[11],
                       row[12], tuple(row[13].split()), row[14])


# The grant of an access token, and its own revocation if it has one (a row exists only then).
_ACCESS_SQL = ("SELECT g.client_id, g.account_id, g.revoked_at, g.auth_time, g.acr, g.amr, g.session_id, t.revoked_at "
               "FROM oidc_grants g LEFT JOIN oidc_tokens t ON t.id = :jti WHERE g.id = :grant")
_REVOKE_ACCESS = ("INSERT INTO oidc_tokens (id, grant_id, kind, scope, created_at, expires_at, revoked_at) "
                  "VALUES (:id, :grant, 'access', :scope, :created, :expires, :now) ON CONFLICT DO NOTHING")


def access_jti(grant_id: str) -> str:
    """An access token's ``jti``: its grant's id, then 16 random hex digits (unique, and the
    grant is found from the token alone)."""
    return f"{grant_id}.{secrets.token_hex(8)}"


def access_token_in(raw: Raw, claims: AccessClaims, now: dt.datetime) -> TokenRecord | None:
    """The access token's record: its verified claims, with its grant read in plain SQL (one
    indexed read), or None when the grant is unknown."""
    row = raw.one(_ACCESS_SQL, {"jti": claims.jti, "grant": claims.grant_id})
    if row is None:
        return None
    client_id, account_id, grant_revoked, auth_time, acr, amr, session_id, token_revoked = row
    return TokenRecord(claims.jti, "access", claims.grant_id, client_id, account_id, claims.scope, claims.issued_at,
                       claims.expires_at, grant_revoked is not None or token_revoked is not None, now,
                       raw.read_time(auth_time), acr, tuple(amr.split()), session_id)


class GrantStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- codes --------------------------------------------------------------------------------
    async def save_code(self, code: str, *, client_id: str, subject: Subject, redirect_uri: str, scope: str,
                        nonce: str | None, challenge: str | None, method: str | None, now: dt.datetime,
                        ttl: int) -> None:
        """The code, and the grant its exchange opens (under the code's id)."""
        code_id = random_id()
        async with self._db.append() as s:
            s.add(OidcGrant(id=code_id, client_id=client_id, account_id=subject.account_id, code_id=code_id,
                            session_id=subject.session_id, scope=scope, auth_time=subject.auth_time,
                            acr=subject.acr, amr=" ".join(subject.amr), created_at=now))
            s.add(OidcCode(
                id=code_id, code_hash=sha256_hex(code), client_id=client_id, account_id=subject.account_id,
                session_id=subject.session_id, redirect_uri=redirect_uri, scope=scope, nonce=nonce,
                code_challenge=challenge, code_challenge_method=method, auth_time=subject.auth_time,
                acr=subject.acr, amr=" ".join(subject.amr), created_at=now,
                expires_at=now + dt.timedelta(seconds=ttl),
            ))

    async def spend_code(self, code: str, client_id: str, now: dt.datetime) -> CodeRecord | None:
        """The code's record if this is its first valid use by its client; a replay revokes its grant."""
        if not code or len(code) > 256:
            return None
        h = sha256_hex(code)

        def job(conn: Connection, _: Appends) -> CodeRecord | None:  # one Core transaction, no ORM session
            row = conn.execute(_SPEND_CODE, {"b_hash": h, "b_client": client_id, "b_now": now}).first()
            if row is not None:
                return CodeRecord(row.id, row.client_id, row.account_id, row.session_id, row.redirect_uri, row.scope,
                                  row.nonce, row.code_challenge, row.code_challenge_method, row.auth_time, row.acr,
                                  tuple(row.amr.split()))
            used = conn.execute(_USED_CODE, {"h": h}).scalar_one_or_none()
            if used is not None:
                conn.execute(update(OidcGrant).where(OidcGrant.id == used, OidcGrant.revoked_at.is_(None))
                             .values(revoked_at=now))
            return None

        return await self._db.run_write(job)

    # -- tokens -------------------------------------------------------------------------------
    async def save_refresh(self, *, subject: Subject, scope: str, refresh: str, expires: dt.datetime,
                           now: dt.datetime) -> None:
        """A refresh token of the subject's grant (its access token has no row: :func:`access_jti`)."""
        assert subject.grant_id is not None
        async with self._db.append() as s:
            s.add(OidcToken(id=random_id(), grant_id=subject.grant_id, kind="refresh", token_hash=sha256_hex(refresh),
                            scope=scope, created_at=now, expires_at=expires))

    async def spend_refresh(self, token: str, client_id: str, now: dt.datetime) -> TokenRecord | None:
        if not token or len(token) > 256:
            return None
        h = sha256_hex(token)

        def job(conn: Connection, _: Appends) -> Any:  # one Core transaction, no ORM session
            row = conn.execute(_REFRESH_BY_HASH, {"b_hash": h}).first()
            if row is None or row[3] != client_id:
                return None  # unknown, or another client's token: it is not spent by this request
            if row[-1] != "active":  # blocked or deleted: nothing is issued, and the token is left as it was
                return None
            spent = conn.execute(_SPEND_REFRESH, {"b_id": row[0], "b_now": now})
            if spent.rowcount != 1:
                if row[9] is not None:  # reuse of a rotated token: revoke the family
                    conn.execute(update(OidcGrant).where(OidcGrant.id == row[2]).values(revoked_at=now))
                return None
            return row

        row = await self._db.run_write(job)
        if row is None:
            return None
        record = _token(row, now)
        return None if record.revoked else record

    async def access_token(self, claims: AccessClaims, now: dt.datetime) -> TokenRecord | None:
        """Introspection's read (userinfo's is :func:`access_token_in`, with the person's)."""
        return await self._db.read_raw(lambda raw: access_token_in(raw, claims, now))

    async def refresh_token(self, token: str, now: dt.datetime) -> TokenRecord | None:
        async with self._db.read() as s:
            row = (await s.execute(select(*_TOKEN_COLUMNS).join(OidcGrant, OidcGrant.id == OidcToken.grant_id)
                                   .where(OidcToken.token_hash == sha256_hex(token), OidcToken.kind == "refresh"))
                   ).first()
        return _token(row, now) if row is not None else None

    async def revoke_access(self, token: TokenRecord, now: dt.datetime) -> None:
        """One access token revoked (RFC 7009): its row, written now, says so until it expires."""
        await self._db.run_raw(lambda raw: raw.run(_REVOKE_ACCESS, {
            "id": token.id, "grant": token.grant_id, "scope": token.scope, "created": raw.time(token.created_at),
            "expires": raw.time(token.expires_at), "now": raw.time(now)}))

    async def revoke_grant(self, grant_id: str, now: dt.datetime) -> None:
        async with self._db.write() as s:
            await s.execute(update(OidcGrant).where(OidcGrant.id == grant_id, OidcGrant.revoked_at.is_(None))
                            .values(revoked_at=now))

    async def revoke_client(self, client_id: str, now: dt.datetime, *, account_id: str | None = None) -> int:
        """End a client's grants (all of them, or one account's)."""
        cond = [OidcGrant.client_id == client_id, OidcGrant.revoked_at.is_(None)]
        if account_id is not None:
            cond.append(OidcGrant.account_id == account_id)
        async with self._db.write() as s:
            result = await s.execute(update(OidcGrant).where(and_(*cond)).values(revoked_at=now))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def end_session(self, session_id: str, now: dt.datetime) -> list[tuple[str, str]]:
        """The session's live grants ended (all but ``offline_access`` ones, which outlive sign-out by
        design, OpenID Connect Core §11); returns (client_id, account_id) of every client it reached:
        those whose code was exchanged (its ``used_at``).  A grant whose code is still unused is
        ended too — a code exchanged after the sign-out gives tokens refused at once — but its
        partner was never handed anything, so it is not told."""
        unused = exists().where(OidcCode.id == OidcGrant.id, OidcCode.used_at.is_(None))
        async with self._db.write() as s:
            rows = (await s.execute(select(OidcGrant.id, OidcGrant.client_id, OidcGrant.account_id, OidcGrant.scope,
                                           unused.label("unused"))
                                    .where(OidcGrant.session_id == session_id))).all()
            online = [r[0] for r in rows if "offline_access" not in r[3].split()]
            if online:
                await s.execute(update(OidcGrant).where(OidcGrant.id.in_(online), OidcGrant.revoked_at.is_(None))
                                .values(revoked_at=now))
        return list(dict.fromkeys((r[1], r[2]) for r in rows if not r[4]))

    # -- consents -----------------------------------------------------------------------------
    async def consented(self, account_id: str, client_id: str, scopes: set[str]) -> bool:
        async with self._db.read() as s:
            rows = (await s.execute(select(OidcConsent.scope).where(
                OidcConsent.account_id == account_id, OidcConsent.client_id == client_id,
                OidcConsent.withdrawn_at.is_(None)))).scalars().all()
        return any(scopes <= set(r.split()) for r in rows)

    async def remember_consent(self, account_id: str, client_id: str, scopes: list[str], now: dt.datetime) -> None:
        async with self._db.write() as s:
            s.add(OidcConsent(id=random_id(), account_id=account_id, client_id=client_id,
                              scope=" ".join(sorted(set(scopes))), created_at=now))

    async def consents(self, account_id: str) -> list[tuple[str, str, dt.datetime]]:
        """(client_id, scope, since) of every consent the account has not withdrawn."""
        async with self._db.read() as s:
            rows = (await s.execute(select(OidcConsent.client_id, OidcConsent.scope, OidcConsent.created_at)
                                    .where(OidcConsent.account_id == account_id, OidcConsent.withdrawn_at.is_(None))
                                    .order_by(OidcConsent.created_at))).all()
        return [(r[0], r[1], r[2]) for r in rows]

    async def withdraw(self, account_id: str, client_id: str, now: dt.datetime) -> None:
        """«Приложения с доступом» → «Отозвать доступ»: the consent and every grant of the client end."""
        async with self._db.write() as s:
            await s.execute(update(OidcConsent).where(OidcConsent.account_id == account_id,
                                                      OidcConsent.client_id == client_id,
                                                      OidcConsent.withdrawn_at.is_(None)).values(withdrawn_at=now))
            await s.execute(update(OidcGrant).where(OidcGrant.account_id == account_id,
                                                    OidcGrant.client_id == client_id,
                                                    OidcGrant.revoked_at.is_(None)).values(revoked_at=now))


async def end_account_grants(db: AsyncSession, account_id: str, now: dt.datetime) -> None:
    """Every grant of the account ends — online and offline (``offline_access``) alike — so no
    refresh token of it gives a token again, and introspection calls its tokens inactive.  An
    ``accounts.deletion.Eraser``; the operator's block runs it too (``admin/accounts.py``)."""
    # by partner: the grants' (client_id, account_id) index, the partners being few
    await db.execute(update(OidcGrant).where(OidcGrant.client_id.in_(select(OidcClient.id)),
                                             OidcGrant.account_id == account_id, OidcGrant.revoked_at.is_(None))
                     .values(revoked_at=now))
