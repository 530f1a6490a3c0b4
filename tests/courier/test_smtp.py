"""Email through SmtpChannel to a real SMTP server (aiosmtpd on 127.0.0.1), on both backends."""

from __future__ import annotations

import re
import socket

import pytest
from sqlalchemy import select

from dostup.courier.channels import DeliveryError
from dostup.courier.channels.smtp import SmtpChannel
from dostup.persistence.models import OutboxMessage
from dostup.settings import SmtpSettings
from tests.courier.conftest import SmtpSink
from tests.flows.helpers import PASSWORD
from tests.support import ApiSurface, captcha_token

SENDER = "Доступ <no-reply@dostup.test>"


@pytest.fixture
def settings_overrides(smtp_sink: tuple[SmtpSink, int]) -> dict[str, str]:
    _sink, port = smtp_sink
    return {
        "DOSTUP_COURIER__WORKER_IN_PROCESS": "false",
        "DOSTUP_COURIER__EMAIL_PROVIDER": "smtp",
        "DOSTUP_SMTP__HOST": "127.0.0.1",
        "DOSTUP_SMTP__PORT": str(port),
        "DOSTUP_SMTP__SENDER": SENDER,
        "DOSTUP_SMTP__TIMEOUT_SECONDS": "5",
    }


@pytest.fixture
def sink(smtp_sink: tuple[SmtpSink, int]) -> SmtpSink:
    return smtp_sink[0]


async def enqueue_code(services, to: str, code: str = "418207") -> str:
    async with services.db.write() as s:
        msg = services.outbox.enqueue(
            s, kind="registration_code", channel="email", to=to, now=services.clock.now(),
            code=code, params={"minutes": 60},
        )
    return msg.id


async def row(services, mid: str) -> OutboxMessage:
    async with services.db.read() as s:
        found = await s.get(OutboxMessage, mid)
    assert found is not None
    return found


async def test_registration_code_email_arrives_with_headers_and_russian_utf8_body(services, sink):
    mid = await enqueue_code(services, "ivan.petrov@example.ru", code="418207")
    assert await services.worker.run_once() == 1

    assert len(sink.envelopes) == 1
    env = sink.envelopes[0]
    assert env.mail_from == "no-reply@dostup.test"
    assert env.rcpt_tos == ["ivan.petrov@example.ru"]
    [mail] = sink.messages()
    product = services.preset.product_name
    assert str(mail["From"]) == SENDER
    assert mail["From"].addresses[0].display_name == "Доступ"
    assert str(mail["To"]) == "ivan.petrov@example.ru"
    assert str(mail["Subject"]) == f"Код подтверждения — {product}"
    assert mail["Date"] and mail["Message-ID"]
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    body = mail.get_content()
    assert body.startswith("Здравствуйте!")
    assert f"Код подтверждения для регистрации в {product}: 418207" in body
    assert "Код действует 60 мин." in body
    assert "http://testserver" in body
    # Non-ASCII headers travel RFC 2047-encoded: the raw message is plain 7-bit in its headers.
    raw_headers = env.original_content.split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii()

    sent = await row(services, mid)
    assert sent.status == "sent" and sent.attempts == 1 and sent.sent_at == services.clock.now()
    assert sent.body == "[delivered]" and sent.code is None  # a real provider: no readable code kept


@pytest.mark.parametrize("field", ["to", "subject"])
@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\u2028", "\x85", "\x0b"])
async def test_header_injection_is_refused_before_connecting(smtp_sink, field, breaker):
    sink, port = smtp_sink
    msg = OutboxMessage(id="m1", channel="email", kind="registration_code", to="user@example.ru",
                        subject="Код подтверждения", body="Код: 123456", code="123456")
    setattr(msg, field, getattr(msg, field) + breaker + "Bcc: victim@evil.example")
    channel = SmtpChannel(SmtpSettings(host="127.0.0.1", port=port, sender=SENDER, timeout_seconds=5))
    with pytest.raises(DeliveryError, match="header injection refused"):
        await channel.send(msg)
    assert sink.greetings == 0 and sink.envelopes == []  # not even a connection got as far as EHLO


async def test_injected_message_is_a_failed_attempt_and_does_not_block_the_queue(services, sink):
    async with services.db.write() as s:
        evil = services.outbox.enqueue(
            s, kind="registration_code", channel="email", to="user@example.ru\r\nBcc: victim@evil.example",
            now=services.clock.now(), code="123456", params={"minutes": 60},
        )
    good = await enqueue_code(services, "fine@example.ru")
    assert await services.worker.run_once() == 2
    stored = await row(services, evil.id)
    assert stored.status == "pending" and stored.attempts == 1
    assert stored.last_error == "header injection refused"
    assert (await row(services, good)).status == "sent"
    assert [e.rcpt_tos for e in sink.envelopes] == [["fine@example.ru"]]


async def test_smtp_login_uses_the_configured_credentials(services, sink, smtp_sink):
    _sink, port = smtp_sink
    sink.users["mailer"] = "s3cret"
    mid = await enqueue_code(services, "a@example.ru")
    msg = await row(services, mid)

    def channel(password: str) -> SmtpChannel:
        return SmtpChannel(SmtpSettings(host="127.0.0.1", port=port, username="mailer", password=password,
                                        sender=SENDER, timeout_seconds=5))

    with pytest.raises(DeliveryError, match="SMTPAuthenticationError"):
        await channel("wrong").send(msg)
    assert sink.envelopes == []
    await channel("s3cret").send(msg)
    # smtplib tries each offered mechanism (PLAIN, then LOGIN) before giving up on a wrong password.
    assert sink.logins[-1] == ("mailer", True)
    assert sink.logins[:-1] and all(entry == ("mailer", False) for entry in sink.logins[:-1])
    assert len(sink.envelopes) == 1


async def test_refused_recipient_and_unreachable_server_are_delivery_errors(services, sink, smtp_sink):
    _sink, port = smtp_sink
    sink.refuse.add("gone@example.ru")
    mid = await enqueue_code(services, "gone@example.ru")
    with pytest.raises(DeliveryError, match="SMTPRecipientsRefused"):
        await SmtpChannel(services.settings.smtp).send(await row(services, mid))
    with socket.socket() as reserved:  # bound but not listening: the connection is refused
        reserved.bind(("127.0.0.1", 0))
        down = SmtpSettings(host="127.0.0.1", port=reserved.getsockname()[1], sender=SENDER, timeout_seconds=5)
        with pytest.raises(DeliveryError, match="ConnectionRefusedError"):
            await SmtpChannel(down).send(await row(services, mid))
    assert sink.envelopes == []


async def test_registration_without_a_mobile_phone_sends_the_code_by_email_end_to_end(services, sink, client):
    surface = ApiSurface(client)
    r = await surface.register(
        phone="+74951234567", country="RU", email="Olga.Smirnova@Example.ru", password=PASSWORD,
        password_repeat=PASSWORD, consent_personal_data=True, captcha=await captcha_token(client, "register"),
    )
    assert r.ok, (r.status, r.code, r.message)
    assert r.data["channel"] == "email"
    assert await services.worker.run_once() == 1

    [mail] = sink.messages()
    to = str(mail["To"])
    assert to.lower() == "olga.smirnova@example.ru"
    m = re.search(r": (\d{6})\n", mail.get_content())
    assert m, mail.get_content()
    c = await surface.confirm(r.data["flow_id"], m.group(1))
    assert c.ok, (c.status, c.code, c.message)
    me = await surface.whoami()
    assert me.ok and me.data["account"]["phone"] == "+74951234567"
    async with services.db.read() as s:
        rows = (await s.execute(select(OutboxMessage))).scalars().all()
    assert [(x.status, x.body, x.code) for x in rows] == [("sent", "[delivered]", None)]
