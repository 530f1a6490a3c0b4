"""The plain routes' sign-in answer (``signed_in_json``) is what the documented model writes."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dostup.identity.repository import AccountSummary
from dostup.session.service import IssuedSession
from dostup.session.strength import Strength
from dostup.web.api.auth import signed_in, signed_in_json


@pytest.mark.parametrize("strength", [Strength(2, ("hwk", "user", "mfa")), Strength(1, ("pwd",), frozenset({"password_change"}))])
@pytest.mark.parametrize("at", [dt.datetime(2026, 12, 3, 18, 0, 0), dt.datetime(2026, 12, 3, 18, 0, 0, 123456)])
def test_the_plain_answer_equals_the_models(strength, at):
    account = AccountSummary("a1", "+79001234567", None, "иван", None, "active", at)
    session = IssuedSession("s1", "token", at + dt.timedelta(hours=12), False, strength)
    assert json.loads(signed_in_json(account, session)) == json.loads(signed_in(account, session).model_dump_json())
