"""whoami's hand-written JSON is exactly what the ``json`` module writes for the same answer."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dostup.selfservice.companies import ONBOARDING
from dostup.session.reader import SessionRecord
from dostup.session.strength import PASSWORD_CHANGE, Strength
from dostup.web.api.auth import whoami_body

T = dt.datetime(2026, 12, 3, 17, 37, 57, 821329)


def _record(**kw: object) -> SessionRecord:
    fields: dict[str, object] = dict(
        id="eea8dda410c27500107bfcf50154e524", account_id="fdce326fdbf591d4af3cc9f7f8c11bb8", strength=Strength(),
        remember=False, kind="bearer", authenticated_at=T, last_seen_at=T, expires_at=T + dt.timedelta(hours=12),
        account_state="active", phone="+79000000000", email=None, login=None, segment=None, given_name=None,
        family_name=None, role="customer", account_created_at=T.replace(microsecond=0), company_confirmed=False,
    )
    fields.update(kw)
    return SessionRecord(**fields)  # type: ignore[arg-type]


def _expected(rec: SessionRecord, companies_required: bool) -> str:
    """The answer as the route wrote it before (a dict through ``json``)."""
    return json.JSONEncoder(ensure_ascii=False).encode({
        "account": {"id": rec.account_id, "phone": rec.phone, "email": rec.email, "login": rec.login,
                    "segment": rec.segment, "state": rec.account_state,
                    "created_at": rec.account_created_at.isoformat() + "Z"},
        "session": {"id": rec.id, "state": PASSWORD_CHANGE if rec.strength.restrictions else "active",
                    "aal": rec.strength.aal, "amr": list(rec.strength.amr), "expires_at": rec.expires_at.isoformat() + "Z",
                    "authenticated_at": rec.authenticated_at.isoformat() + "Z", "remember": rec.remember},
        "onboarding": ONBOARDING if companies_required and not rec.company_confirmed else None,
    })


@pytest.mark.parametrize("rec", [
    _record(),
    _record(remember=True, company_confirmed=True, strength=Strength(2, ("pwd", "otp", "mfa"))),
    _record(email='o"brien\\@пример.рф', login="ivan\u2028\u00e9\x01\t", segment="b2b </script>",
            strength=Strength(1, (), frozenset({PASSWORD_CHANGE}))),
], ids=["plain", "two-factor-remembered", "escapes"])
@pytest.mark.parametrize("companies_required", [True, False])
def test_the_body_is_byte_for_byte_what_json_writes(rec: SessionRecord, companies_required: bool) -> None:
    assert whoami_body(rec, companies_required) == _expected(rec, companies_required)
    json.loads(whoami_body(rec, companies_required))
