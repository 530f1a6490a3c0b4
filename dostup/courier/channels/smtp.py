"""Email over SMTP (stdlib ``smtplib`` in a thread; the event loop never blocks on a socket)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from dostup.courier.channels import DeliveryError
from dostup.persistence.models import OutboxMessage
from dostup.settings import SmtpSettings


class SmtpChannel:
    name = "smtp"
    keeps_text = False

    def __init__(self, settings: SmtpSettings) -> None:
        self._s = settings

    def _build(self, message: OutboxMessage) -> EmailMessage:
        # Any line break ends a header: CR/LF, and also what ``str.splitlines`` breaks on (VT, FF,
        # NEL, U+2028...), which ``email`` refuses with a ValueError rather than a DeliveryError.
        if len((message.to + message.subject + "x").splitlines()) > 1:
            raise DeliveryError("header injection refused")
        mail = EmailMessage()
        mail["From"] = self._s.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain="dostup")
        mail.set_content(message.body)
        return mail

    def _send_blocking(self, mail: EmailMessage) -> None:
        s = self._s
        cls = smtplib.SMTP_SSL if s.use_tls else smtplib.SMTP
        with cls(s.host, s.port, timeout=s.timeout_seconds) as client:
            if s.starttls and not s.use_tls:
                client.starttls(context=ssl.create_default_context())
            if s.username:
                client.login(s.username, s.password)
            client.send_message(mail)

    async def send(self, message: OutboxMessage) -> None:
        mail = self._build(message)
        try:
            await asyncio.to_thread(self._send_blocking, mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(type(exc).__name__) from exc
