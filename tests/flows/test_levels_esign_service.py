"""The e-signature checked by an external verification service over HTTP (SPEC §4.8, pluggable; the adapter for
GOST signatures, :mod:`dostup.selfservice.verification.esign.remote`), against a real HTTP server started by the
test (``http.server`` in a thread; nothing mocked).  The test's service checks the HMAC on Dostup's request and
then really verifies the CMS signature (with the built-in check and the test CA's root, standing in for the
service's GOST implementation), answering the contract's verdict and the signer's fields.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dostup.accounts.levels import account_level
from dostup.core.errors import ValidationFailed
from dostup.core.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from dostup.selfservice.verification.esign.cms import CmsCheck
from dostup.settings import SettingsError
from tests.courier.conftest import Gateway, Reply, Request
from tests.flows.esign_support import Ca, Unrevoked
from tests.flows.levels_support import GOSUSLUGI, SNILS
from tests.flows.test_levels_esign import OTHER_SNILS, customer, events, flow_row, message, sign, start
from tests.support import ApiSurface, make_settings

SECRET = "signature-service-secret-0123456789abcdef"


@pytest.fixture
def ca() -> Ca:
    return Ca().with_intermediate()


class Service:
    """The verification service: checks Dostup's HMAC, then the signature itself."""

    def __init__(self, ca: Ca) -> None:
        self.check = CmsCheck([ca.root.cert], revocation=Unrevoked())
        self.verdict: dict[str, Any] | None = None  # a fixed answer instead of the real check

    def __call__(self, req: Request) -> Reply:
        if not verify(SECRET, req.headers.get(TIMESTAMP_HEADER.lower()), req.headers.get(SIGNATURE_HEADER.lower()),
                      req.body, now=int(time.time()), window=300):
            return Reply(401, {"error": "bad signature"})
        if self.verdict is not None:
            return Reply(200, self.verdict)
        body = json.loads(req.body)
        try:
            signer = asyncio.run(self.check.check(base64.b64decode(body["content"]), base64.b64decode(body["signature"]),
                                                  _now()))
        except ValidationFailed as exc:
            return Reply(200, {"valid": False, "reason": exc.message_id.removeprefix("esign.")})
        return Reply(200, {"valid": True, "signer": {"snils": signer.snils, "surname": signer.surname,
                                                     "given_name": signer.given_name, "serial": signer.serial,
                                                     "issuer": signer.issuer, "common_name": signer.common_name}})


def _now() -> Any:
    import datetime as dt
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def service(ca: Ca) -> Iterator[tuple[Gateway, Service]]:
    gw = Gateway().up()
    svc = Service(ca)
    gw.responder = svc
    try:
        yield gw, svc
    finally:
        gw.close()


@pytest.fixture
def settings_overrides(service: tuple[Gateway, Service]) -> dict[str, str]:
    return GOSUSLUGI | {"DOSTUP_LEVELS__ESIGN": "service", "DOSTUP_LEVELS__ESIGN_SERVICE_URL": service[0].url + "/verify",
                        "DOSTUP_LEVELS__ESIGN_SERVICE_SECRET": SECRET,
                        "DOSTUP_LEVELS__ESIGN_SERVICE_TIMEOUT_SECONDS": "2"}


async def test_the_service_checks_the_signature_and_its_signer_confirms_the_identity(services, surface, service, ca):
    gw, _ = service
    account_id = await customer(services, surface, 851)
    started = await start(surface)
    content = started.data["text"].encode()
    done = await sign(surface, started.data["flow_id"], ca.sign_b64(ca.person(snils=SNILS), content))
    assert done.ok, (done.status, message(done, surface))
    assert await account_level(services.db, account_id) == 3
    [call] = gw.requests
    body = json.loads(call.body)
    assert call.path == "/verify" and body["detached"] is True and base64.b64decode(body["content"]) == content
    assert call.headers[SIGNATURE_HEADER.lower()].startswith("sha256=")
    assert "esign_confirmed" in await events(services, account_id)


@pytest.mark.parametrize(("kind", "text", "code"), [
    ("untrusted", "которой мы не доверяем", "signature_untrusted"),
    ("other_text", "Подписано не это заявление", "signature_wrong_statement"),
    ("other_person", "Подпись принадлежит другому человеку", "other_person"),
])
async def test_the_services_refusal_and_another_person_are_named(services, surface, ca, kind, text, code):
    account_id = await customer(services, surface, 852)
    started = await start(surface)
    content = started.data["text"].encode()
    signature = {"untrusted": lambda: (o := Ca("Чужой УЦ")).sign_b64(o.person(snils=SNILS), content),
                 "other_text": lambda: ca.sign_b64(ca.person(snils=SNILS), content + b"!"),
                 "other_person": lambda: ca.sign_b64(ca.person(snils=OTHER_SNILS), content)}[kind]()
    r = await sign(surface, started.data["flow_id"], signature)
    assert r.status == 422 and text in message(r, surface)
    if isinstance(surface, ApiSurface):
        assert r.code == code
    assert await account_level(services.db, account_id) == 2
    assert (await flow_row(services, started.data["flow_id"])).data["tries"] == 1


@pytest.mark.parametrize(("verdict", "text"), [
    ({"valid": False, "reason": "revoked"}, "Сертификат подписи отозван"),  # only a service checks revocation
    ({"valid": False, "reason": "revocation_unknown"}, "не указано, где проверить, не отозван ли он"),
    ({"valid": False, "reason": "something new"}, "Подпись не прошла проверку"),
    ({"valid": True, "signer": {"snils": "", "surname": "Петрова", "given_name": "Анна Сергеевна"}},
     "В сертификате нет СНИЛС"),
])
async def test_each_verdict_of_the_service_is_its_own_message(services, client, service, ca, verdict, text):
    service[1].verdict = verdict
    api = ApiSurface(client)
    account_id = await customer(services, api, 853)
    started = await start(api)
    r = await sign(api, started.data["flow_id"], ca.sign_b64(ca.person(snils=SNILS), started.data["text"].encode()))
    assert r.status == 422 and text in r.message
    assert await account_level(services.db, account_id) == 2


@pytest.mark.parametrize("reply", [Reply(503, {"error": "maintenance"}), Reply(200, "<html>oops</html>", "text/html"),
                                   Reply(200, {"valid": "yes"}), Reply(401, {"error": "bad signature"})],
                         ids=["503", "not-json", "bad-verdict", "401"])
async def test_a_service_that_cannot_answer_is_503_and_the_statement_stays_usable(services, surface, service, ca,
                                                                                   reply):
    gw, svc = service
    gw.responder = lambda req: reply
    account_id = await customer(services, surface, 854)
    started = await start(surface)
    signature = ca.sign_b64(ca.person(snils=SNILS), started.data["text"].encode())
    r = await sign(surface, started.data["flow_id"], signature)
    assert r.status == 503 and "Сервис проверки электронной подписи сейчас недоступен" in message(r, surface)
    flow = await flow_row(services, started.data["flow_id"])
    assert (flow.state, flow.data["tries"]) == ("started", 0)  # not the customer's fault: no try counted
    gw.responder = svc
    assert (await sign(surface, started.data["flow_id"], signature)).ok
    assert await account_level(services.db, account_id) == 3


async def test_a_service_that_is_down_is_503(services, client, service, ca):
    service[0].close()  # nothing listens any more
    api = ApiSurface(client)
    await customer(services, api, 855)
    started = await start(api)
    r = await sign(api, started.data["flow_id"], ca.sign_b64(ca.person(snils=SNILS), started.data["text"].encode()))
    assert r.status == 503 and r.code == "verification_service_unavailable"


def test_the_service_needs_a_url_and_a_long_secret():
    with pytest.raises(SettingsError, match="http:// or https://"):
        make_settings(DOSTUP_LEVELS__ESIGN="service", DOSTUP_LEVELS__ESIGN_SERVICE_URL="ftp://x",
                      DOSTUP_LEVELS__ESIGN_SERVICE_SECRET=SECRET)
    with pytest.raises(SettingsError, match="at least 32 characters"):
        make_settings(DOSTUP_LEVELS__ESIGN="service", DOSTUP_LEVELS__ESIGN_SERVICE_URL="https://svs.example/verify",
                      DOSTUP_LEVELS__ESIGN_SERVICE_SECRET="short")
