"""A passkey as a ceremony (``dostup.selfservice.login.ceremony``): the sign-in by itself
(usernameless, «Войти по отпечатку»), the second step at «Подтверждение входа», and the proof of
a re-authentication — one challenge-and-answer, three places."""

from __future__ import annotations

from dostup.accounts.events import record_event
from dostup.core.context import Context
from dostup.credentials import passkeys as pk
from dostup.persistence.db import Database
from dostup.selfservice.login.ceremony import Proven, Started, Work
from dostup.selfservice.methods.passkey import store


class PasskeyCeremony:
    id = "passkey"
    credential_type = pk.TYPE

    def __init__(self, db: Database, rp: pk.RelyingParty) -> None:
        self._db = db
        self._rp = rp

    async def start(self, account_id: str | None, ctx: Context, challenge: bytes | None = None) -> Started:
        allowed = None
        if account_id is not None:  # a known account: offer its passkeys only
            async with self._db.read() as s:
                allowed = await store.ids_of(s, account_id)
        options, challenge = pk.authentication_options(self._rp, allowed, challenge)
        return Started(options, {"challenge": pk.b64url(challenge)})

    def finish(self, work: Work, state: dict[str, object], answer: object, account_id: str | None,
               ctx: Context) -> Proven:
        response = pk.parse_response(answer)
        cred_id = pk.credential_id(response)
        row = store.by_credential_id(work.raw, cred_id)
        if row is None or (account_id is not None and row.account_id != account_id):
            raise pk.PasskeyUnknown()
        try:
            assertion = pk.verify_assertion(self._rp, response, pk.unb64url(str(state["challenge"])), row.config)
        except pk.PasskeyCloned:
            record_event(work.batch, kind="passkey_sign_count", outcome="refused", ctx=ctx, now=work.now,
                         account_id=row.account_id, passkey=row.id, stored=row.config.get("sign_count"))
            raise
        config = {**row.config, "sign_count": assertion.sign_count, "device_type": assertion.device_type,
                  "backed_up": assertion.backed_up}
        if not store.used(work.raw, row, config, work.now) and assertion.sign_count > 0:
            raise pk.PasskeyCloned()  # a parallel sign-in presented the same counter value
        return Proven(row.account_id, pk.strength(assertion.device_type), {"passkey": row.id}, row.account)
