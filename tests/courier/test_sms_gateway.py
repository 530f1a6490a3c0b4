"""SMS through a real local HTTP gateway: the generic template gateway and the SMS.ru API."""

from __future__ import annotations

import pytest

from dostup.courier.channels import DeliveryError
from dostup.courier.channels.sms import HttpSmsChannel, SmsRuChannel
from dostup.persistence.models import OutboxMessage
from dostup.settings import SmsSettings
from tests.courier.conftest import Gateway

PHONE = "+79123456789"
TRICKY = 'Код "1234"\nstroka 2 & a=b + 50% \\ {to} {sender} #frag ?q ё\t'


def sms(body: str = TRICKY, to: str = PHONE) -> OutboxMessage:
    return OutboxMessage(id="m1", channel="sms", kind="registration_code", to=to, subject="", body=body, code="1234")


def http_channel(gateway: Gateway, **kw: object) -> HttpSmsChannel:
    return HttpSmsChannel(SmsSettings(url=gateway.url + "/send", timeout_seconds=5, **kw))  # type: ignore[arg-type]


def smsru_channel(gateway: Gateway, **kw: object) -> SmsRuChannel:
    return SmsRuChannel(SmsSettings(url=gateway.url + "/sms/send", api_id="API-ID-1", timeout_seconds=5,
                                    **kw))  # type: ignore[arg-type]


# -- the generic gateway ---------------------------------------------------------------------


async def test_json_template_escapes_quotes_newlines_and_cyrillic(gateway):
    await http_channel(gateway, auth_header="Authorization: Bearer tok-42").send(sms())
    [req] = gateway.requests
    assert req.method == "POST" and req.path == "/send"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["authorization"] == "Bearer tok-42"
    assert req.json() == {"to": PHONE, "text": TRICKY}  # valid JSON, exactly the text


async def test_custom_json_template_with_sender_and_custom_auth_header(gateway):
    template = '{"messages": [{"recipient": "{to}", "body": "{text}", "from": "{sender}"}], "n": 1}'
    await http_channel(gateway, body_template=template, sender='ООО "Кит"',
                       auth_header="X-Api-Key:  k:v:w  ").send(sms())
    [req] = gateway.requests
    assert req.headers["x-api-key"] == "k:v:w"  # split at the first colon, spaces trimmed
    assert req.json() == {"messages": [{"recipient": PHONE, "body": TRICKY, "from": 'ООО "Кит"'}], "n": 1}


async def test_form_template_is_url_encoded(gateway):
    await http_channel(
        gateway, content_type="application/x-www-form-urlencoded",
        body_template="phone={to}&message={text}&sender={sender}", sender="Кит & Ко",
    ).send(sms())
    [req] = gateway.requests
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    # '+' in the phone survives (a bare '+' would arrive as a space), '&' and '=' do not split fields.
    assert req.form() == {"phone": PHONE, "message": TRICKY, "sender": "Кит & Ко"}


async def test_get_gateway_gets_a_url_encoded_query_and_the_auth_header(gateway):
    # Default content type is JSON, but a query string must be URL-encoded whatever it says.
    await http_channel(gateway, method="GET", body_template="to={to}&text={text}",
                       auth_header="Authorization: Basic dXNlcjpwdw==").send(sms())
    [req] = gateway.requests
    assert req.method == "GET" and req.path == "/send" and req.body == b""
    assert req.query == {"to": [PHONE], "text": [TRICKY]}
    assert req.headers["authorization"] == "Basic dXNlcjpwdw=="


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_any_2xx_is_accepted(gateway, status):
    gateway.answer(status, b"" if status == 204 else {"queued": True})
    await http_channel(gateway).send(sms())
    assert len(gateway.requests) == 1


@pytest.mark.parametrize("status", [301, 400, 401, 429, 500, 503])
async def test_non_2xx_is_a_delivery_error(gateway, status):
    gateway.answer(status, {"error": "no"})
    with pytest.raises(DeliveryError, match=f"gateway answered {status}"):
        await http_channel(gateway).send(sms())


async def test_gateway_down_is_a_delivery_error(make_gateway):
    down = make_gateway(up=False)
    with pytest.raises(DeliveryError, match="ConnectError"):
        await http_channel(down).send(sms())


async def test_gateway_timeout_is_a_delivery_error(gateway):
    gateway.delay = 1.0
    channel = HttpSmsChannel(SmsSettings(url=gateway.url + "/send", timeout_seconds=0.2))
    with pytest.raises(DeliveryError, match="Timeout"):
        await channel.send(sms())


# -- SMS.ru ----------------------------------------------------------------------------------


def smsru_ok(number: str = PHONE.lstrip("+")) -> dict[str, object]:
    return {"status": "OK", "status_code": 100, "balance": 41.5,
            "sms": {number: {"status": "OK", "status_code": 100, "sms_id": "000000-10000000"}}}


async def test_smsru_posts_its_form_and_accepts_ok(gateway):
    gateway.answer(200, smsru_ok())
    await smsru_channel(gateway, sender="KIT").send(sms())
    [req] = gateway.requests
    assert req.method == "POST" and req.path == "/sms/send"
    assert req.form() == {"api_id": "API-ID-1", "to": "79123456789", "msg": TRICKY, "json": "1", "from": "KIT"}


async def test_smsru_without_sender_sends_no_from(gateway):
    gateway.answer(200, smsru_ok())
    await smsru_channel(gateway).send(sms())
    assert "from" not in gateway.requests[0].form()


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (200, {"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"}),
        (200, {"status": "OK", "status_code": 100, "balance": 1.0,
               "sms": {"79123456789": {"status": "ERROR", "status_code": 207,
                                       "status_text": "На этот номер нельзя отправлять сообщения"}}}),
        (500, smsru_ok()),
        (502, "<html><body>Bad Gateway</body></html>"),
        (200, "not json"),
        (200, []),
        (200, "OK"),
        (200, {"status": "OK", "sms": ["79123456789"]}),
    ],
    ids=["api-error", "number-refused", "http-500", "html-502", "not-json", "json-list", "json-string", "sms-list"],
)
async def test_smsru_error_answers_are_delivery_errors(gateway, status, answer):
    gateway.answer(status, answer)
    with pytest.raises(DeliveryError):
        await smsru_channel(gateway).send(sms())
    assert len(gateway.requests) == 1


async def test_smsru_down_is_a_delivery_error(make_gateway):
    with pytest.raises(DeliveryError, match="ConnectError"):
        await smsru_channel(make_gateway(up=False)).send(sms())


# -- through settings, the outbox and the worker (both backends) -----------------------------


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest, gateway: Gateway) -> dict[str, str]:
    provider = getattr(request, "param", "http")
    env = {
        "DOSTUP_COURIER__WORKER_IN_PROCESS": "false",
        "DOSTUP_COURIER__SMS_PROVIDER": provider,
        "DOSTUP_SMS__URL": gateway.url + ("/sms/send" if provider == "smsru" else "/api/sms"),
        "DOSTUP_SMS__TIMEOUT_SECONDS": "5",
    }
    if provider == "http":
        env["DOSTUP_SMS__BODY_TEMPLATE"] = '{"phone": "{to}", "message": "{text}", "sign": "{sender}"}'
        env["DOSTUP_SMS__AUTH_HEADER"] = "Authorization: Bearer from-settings"
        env["DOSTUP_SMS__SENDER"] = "KIT"
    else:
        env["DOSTUP_SMS__API_ID"] = "settings-api-id"
    return env


async def enqueue_code(services, to: str = PHONE, code: str = "905123") -> str:
    async with services.db.write() as s:
        msg = services.outbox.enqueue(s, kind="registration_code", channel="sms", to=to,
                                           now=services.clock.now(), code=code, params={"minutes": 10})
    return msg.id


async def stored(services, mid: str) -> OutboxMessage:
    async with services.db.read() as s:
        found = await s.get(OutboxMessage, mid)
    assert found is not None
    return found


async def test_settings_configure_the_http_gateway(services, gateway):
    mid = await enqueue_code(services)
    assert await services.worker.run_once() == 1
    [req] = gateway.requests
    assert req.path == "/api/sms" and req.headers["authorization"] == "Bearer from-settings"
    body = req.json()
    product = services.preset.product_name
    assert body == {"phone": PHONE, "sign": "KIT",
                    "message": f"{product}: код подтверждения 905123. Действует 10 мин. Никому не сообщайте его."}
    row = await stored(services, mid)
    assert (row.status, row.body, row.code) == ("sent", "[delivered]", None)


@pytest.mark.parametrize("settings_overrides", ["smsru"], indirect=True)
async def test_settings_configure_smsru(services, gateway):
    gateway.answer(200, smsru_ok())
    mid = await enqueue_code(services)
    assert await services.worker.run_once() == 1
    form = gateway.requests[0].form()
    assert form["api_id"] == "settings-api-id" and form["to"] == "79123456789" and "905123" in form["msg"]
    row = await stored(services, mid)
    assert (row.status, row.body, row.code, row.attempts) == ("sent", "[delivered]", None, 1)


@pytest.mark.parametrize("settings_overrides", ["smsru"], indirect=True)
async def test_smsru_refusal_keeps_the_message_for_a_retry(services, gateway):
    gateway.answer(200, {"status": "ERROR", "status_code": 201, "status_text": "Не хватает средств"})
    mid = await enqueue_code(services)
    assert await services.worker.run_once() == 1
    row = await stored(services, mid)
    assert (row.status, row.attempts, row.code, row.last_error) == ("pending", 1, "905123", "provider refused")
    assert "905123" in row.body

    gateway.answer(200, smsru_ok())
    services.clock.advance(seconds=services.settings.courier.backoff_base_seconds)
    assert await services.worker.run_once() == 1
    row = await stored(services, mid)
    assert (row.status, row.attempts, row.code) == ("sent", 2, None)
    texts = [r.form()["msg"] for r in gateway.requests]
    assert len(texts) == 2 and texts[0] == texts[1]  # the same text, code included, went out again
