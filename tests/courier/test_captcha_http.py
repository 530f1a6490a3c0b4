"""HttpCaptchaVerifier against a local server imitating Yandex SmartCaptcha and Google reCAPTCHA."""

from __future__ import annotations

import pytest

from dostup.guards.captcha import HttpCaptchaVerifier
from dostup.settings import CaptchaSettings
from tests.courier.conftest import Gateway, Reply, Request
from tests.flows.helpers import PASSWORD
from tests.support import ApiSurface

SECRET = "server-secret-ключ"
GOOD = "good-token"


def smartcaptcha_server(req: Request) -> Reply:
    """POST form secret/token/ip → {"status": "ok"} only for the right secret and token."""
    form = req.form()
    if form.get("secret") == SECRET and form.get("token") == GOOD:
        return Reply(200, {"status": "ok", "message": "", "host": "testserver"})
    return Reply(200, {"status": "failed", "message": "Token invalid or expired."})


def recaptcha_server(action: str = "register") -> Reply | object:
    def respond(req: Request) -> Reply:
        form = req.form()
        if form.get("secret") == SECRET and form.get("response") == GOOD:
            return Reply(200, {"success": True, "challenge_ts": "2026-05-09T07:35:25Z", "hostname": "testserver",
                               "score": 0.9, "action": action})
        return Reply(200, {"success": False, "error-codes": ["invalid-input-response"]})

    return respond


def verifier(gateway: Gateway, kind: str) -> HttpCaptchaVerifier:
    settings = CaptchaSettings(provider=kind, server_key=SECRET, verify_url=gateway.url + "/validate",  # type: ignore[arg-type]
                               site_key="site-key")
    return HttpCaptchaVerifier(settings, kind)


# -- Yandex SmartCaptcha ---------------------------------------------------------------------


async def test_smartcaptcha_accepts_a_good_token_and_posts_secret_token_ip(gateway):
    gateway.responder = smartcaptcha_server
    v = verifier(gateway, "smartcaptcha")
    assert await v.verify(GOOD, "register", "203.0.113.7") is True
    [req] = gateway.requests
    assert req.method == "POST" and req.path == "/validate"
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.form() == {"secret": SECRET, "token": GOOD, "ip": "203.0.113.7"}
    assert v.challenge("login") == {"provider": "smartcaptcha", "site_key": "site-key", "action": "login"}


async def test_smartcaptcha_refuses_a_failed_token(gateway):
    gateway.responder = smartcaptcha_server
    assert await verifier(gateway, "smartcaptcha").verify("forged", "register", "203.0.113.7") is False
    assert len(gateway.requests) == 1


# -- reCAPTCHA -------------------------------------------------------------------------------


async def test_recaptcha_accepts_success_for_the_same_action_and_posts_secret_response_remoteip(gateway):
    gateway.responder = recaptcha_server("login")
    assert await verifier(gateway, "recaptcha").verify(GOOD, "login", "198.51.100.2") is True
    assert gateway.requests[0].form() == {"secret": SECRET, "response": GOOD, "remoteip": "198.51.100.2"}


async def test_recaptcha_refuses_a_token_solved_for_another_action(gateway):
    gateway.responder = recaptcha_server("login")
    assert await verifier(gateway, "recaptcha").verify(GOOD, "register", "198.51.100.2") is False


async def test_recaptcha_refuses_an_unsuccessful_token(gateway):
    gateway.responder = recaptcha_server("register")
    assert await verifier(gateway, "recaptcha").verify("forged", "register", "198.51.100.2") is False


async def test_recaptcha_v2_answer_without_action_is_accepted(gateway):
    gateway.answer(200, {"success": True, "challenge_ts": "2026-05-09T07:35:25Z", "hostname": "testserver"})
    assert await verifier(gateway, "recaptcha").verify(GOOD, "register", "198.51.100.2") is True


# -- fail closed -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["smartcaptcha", "recaptcha"])
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"status": "ok", "success": True, "action": "register"}),  # an error page is no verdict
        (503, "<html>Service Unavailable</html>"),
        (200, "not json"),
        (200, []),
        (200, "ok"),
        (200, {"status": "OK"}),  # not the documented "ok"
        (200, {"success": "false", "action": "register"}),  # a string is not true
        (200, {}),
    ],
    ids=["500-json", "503-html", "not-json", "json-list", "json-string", "status-upper", "success-string", "empty"],
)
async def test_unexpected_answers_refuse(gateway, kind, status, body):
    gateway.answer(status, body, "application/json" if not isinstance(body, str) or status == 200 else "text/html")
    assert await verifier(gateway, kind).verify(GOOD, "register", "203.0.113.7") is False
    assert len(gateway.requests) == 1


@pytest.mark.parametrize("kind", ["smartcaptcha", "recaptcha"])
async def test_server_down_refuses(make_gateway, kind):
    down = make_gateway(up=False)  # port bound, not listening: connection refused
    assert await verifier(down, kind).verify(GOOD, "register", "203.0.113.7") is False


@pytest.mark.parametrize("kind", ["smartcaptcha", "recaptcha"])
async def test_no_verify_url_refuses(kind):
    v = HttpCaptchaVerifier(CaptchaSettings(provider=kind, server_key=SECRET), kind)  # type: ignore[arg-type]
    assert await v.verify(GOOD, "register", "203.0.113.7") is False


@pytest.mark.parametrize("kind", ["smartcaptcha", "recaptcha"])
@pytest.mark.parametrize("token", [None, "", "x" * 4097], ids=["none", "empty", "oversized"])
async def test_missing_or_oversized_token_is_refused_without_a_request(gateway, kind, token):
    gateway.answer(200, {"status": "ok", "success": True})  # would accept anything it were asked
    assert await verifier(gateway, kind).verify(token, "register", "203.0.113.7") is False
    assert gateway.requests == []


async def test_longest_allowed_token_is_checked(gateway):
    gateway.answer(200, {"status": "ok"})
    assert await verifier(gateway, "smartcaptcha").verify("x" * 4096, "register", "203.0.113.7") is True
    assert gateway.requests[0].form()["token"] == "x" * 4096


# -- configured through settings, in the registration flow (both backends) -------------------


@pytest.fixture
def settings_overrides(gateway: Gateway) -> dict[str, str]:
    return {
        "DOSTUP_COURIER__WORKER_IN_PROCESS": "false",
        "DOSTUP_CAPTCHA__PROVIDER": "smartcaptcha",
        "DOSTUP_CAPTCHA__SERVER_KEY": SECRET,
        "DOSTUP_CAPTCHA__SITE_KEY": "site-key",
        "DOSTUP_CAPTCHA__VERIFY_URL": gateway.url + "/validate",
    }


async def test_registration_checks_the_captcha_with_the_configured_provider(services, gateway, client_factory):
    gateway.responder = smartcaptcha_server
    assert isinstance(services.captcha, HttpCaptchaVerifier)
    surface = ApiSurface(client_factory("203.0.113.50"))
    resp = await surface.client.get("/api/v1/captcha/challenge", params={"action": "register"})
    assert resp.json() == {"provider": "smartcaptcha", "site_key": "site-key", "action": "register"}

    fields = {"phone": "+79161112233", "country": "RU", "password": PASSWORD, "password_repeat": PASSWORD,
              "consent_personal_data": True}
    bad = await surface.register(**fields, captcha="forged")
    assert (bad.status, bad.code, bad.field) == (400, "captcha_invalid", "captcha") or (
        bad.code == "captcha_invalid" and bad.field == "captcha"), (bad.status, bad.code)
    ok = await surface.register(**fields, captcha=GOOD)
    assert ok.ok, (ok.status, ok.code, ok.message)
    assert [r.form() for r in gateway.requests] == [
        {"secret": SECRET, "token": "forged", "ip": "203.0.113.50"},
        {"secret": SECRET, "token": GOOD, "ip": "203.0.113.50"},
    ]
