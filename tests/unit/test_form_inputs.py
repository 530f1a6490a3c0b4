"""The use-cases' input dataclasses that both surfaces parse the same way (no database, no HTTP)."""

from __future__ import annotations

import pytest

from dostup.selfservice.reauth import ReauthInput
from dostup.web.api.account import PasswordChangeIn, ReauthIn
from dostup.web.ui.page import Posted


@pytest.mark.parametrize(("inp", "answer"), [
    (ReauthInput(password="secret", code="123456"), "secret"),
    (ReauthInput(method="totp", password="secret", code="123456"), "123456"),
    (ReauthInput(method="recovery_code", code="abcd-efgh"), "abcd-efgh"),
])
def test_reauth_is_answered_by_the_password_or_by_the_code_of_its_method(inp: ReauthInput, answer: str) -> None:
    assert inp.answer == answer


def test_a_posted_form_parses_into_the_body_the_json_api_reads() -> None:
    form = {"old_password": "old", "new_password": "new", "new_password_repeat": "", "csrf_token": "t"}
    body = Posted(PasswordChangeIn, form).parse()
    assert (body.old_password, body.new_password, body.new_password_repeat, body.captcha) == ("old", "new", None, None)
    reauth = Posted(ReauthIn, {"method": "totp", "code": "1" * 40}).parse()
    assert (reauth.method, reauth.answer) == ("totp", "1" * 32)  # cut to the field's limit, as maxlength would
