"""The HTTP contract registry against a real local HTTP server standing in for the billing system.

``DOSTUP_CONTRACTS__REGISTRY=http``: each look-up is ``POST {kind, number}`` to the configured URL;
``{found, owner_phone, secret_sha256}`` comes back.  The server is a ``http.server`` in a thread
(:class:`tests.courier.conftest.Gateway`), nothing is mocked.  Linking works through it as through
the table, and a billing system that fails (status, garbage, timeout, refused connection) fails
the link closed with a clear 503 and writes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from dostup.accounts.contracts import HttpRegistry, number_key
from dostup.settings import ContractSettings, SettingsError
from tests.courier.conftest import Gateway, Reply, Request
from tests.flows.contracts_support import (
    CARD,
    CARD_GROUPED,
    CARD_MASKED,
    CONTRACT,
    CYRILLIC,
    OWNER,
    answer,
    counts,
    link_messages,
    links,
    ok,
    signed_in,
)
from tests.flows.settings_support import shown
from tests.support import TEST_SECRET, last_code, make_settings

AUTH = "Bearer billing-token-123"


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Billing:
    """The billing system's answers, by (kind, number)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.known: dict[tuple[str, str], dict[str, Any]] = {}
        self.fail: Reply | None = None
        gateway.responder = self._answer

    def _answer(self, req: Request) -> Reply:
        if self.fail is not None:
            return self.fail
        body = req.json()
        found = self.known.get((body["kind"], body["number"]))
        return Reply(200, {"found": True, **found} if found else {"found": False})

    def asked(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.gateway.requests]


@pytest.fixture
def billing() -> Iterator[Billing]:
    gw = Gateway().up()
    try:
        yield Billing(gw)
    finally:
        gw.close()


@pytest.fixture
def settings_overrides(billing: Billing) -> dict[str, str]:
    return {
        "DOSTUP_CONTRACTS__REGISTRY": "http",
        "DOSTUP_CONTRACTS__URL": billing.gateway.url + "/registry/lookup",
        "DOSTUP_CONTRACTS__AUTH_HEADER": f"Authorization: {AUTH}",
        "DOSTUP_CONTRACTS__TIMEOUT_SECONDS": "1.2",  # 0.5 s was seen to expire under load
    }


async def test_linking_by_secret_asks_the_billing_system_with_the_normalised_number(surface, services, billing):
    billing.known[("contract", CONTRACT)] = {"owner_phone": OWNER, "secret_sha256": sha("1520.40")}
    me = await signed_in(surface, services, 400)
    r = ok(await me.link("contract", "1002 0030 0400", "secret", "1 520,4"))
    assert r.data["linked"] is True
    [req] = billing.gateway.requests
    assert req.method == "POST" and req.path == "/registry/lookup"
    assert req.headers["authorization"] == AUTH and req.headers["content-type"] == "application/json"
    assert req.json() == {"kind": "contract", "number": CONTRACT}
    assert [i["number"] for i in await me.items()] == [CONTRACT]
    [link] = await links(services)
    assert link.registry_key == number_key(services.keyring, "contract", CONTRACT)  # the table's key too


async def test_linking_a_card_by_sms_code_sent_to_the_phone_the_billing_system_gave(surface, services, billing):
    billing.known[("card", CARD)] = {"owner_phone": "8 916 123-45-67", "secret_sha256": None}
    me = await signed_in(surface, services, 401)
    r = ok(await me.link("card", CARD_GROUPED))
    assert billing.asked() == [{"kind": "card", "number": CARD}]
    [msg] = await link_messages(services)
    assert msg.to == OWNER and CARD_MASKED in msg.body and CARD not in msg.body
    ok(await me.confirm(r.data["flow_id"], await last_code(surface.client, OWNER, "contract_link_code")))
    assert [(i["kind"], i["number"]) for i in await me.items()] == [("card", CARD_MASKED)]


async def test_not_found_wrong_secret_and_404_answer_alike(surface, services, billing):
    billing.known[("contract", CONTRACT)] = {"owner_phone": None, "secret_sha256": sha("7")}
    me = await signed_in(surface, services, 402)
    wrong = await me.link("contract", CONTRACT, "secret", "8")
    unknown = await me.link("contract", "999888777666", "secret", "8")
    billing.fail = Reply(404, {"detail": "no such contract"})
    gone = await me.link("contract", CONTRACT, "secret", "7")
    assert wrong.status == 422 and answer(wrong) == answer(unknown) == answer(gone)
    billing.fail = None
    assert ok(await me.link("contract", CONTRACT, "secret", "7")).data["linked"]


async def test_no_valid_mobile_from_billing_means_the_neutral_answer_and_no_sms(surface, services, billing):
    billing.known[("contract", CONTRACT)] = {"owner_phone": "not a phone", "secret_sha256": "zz"}
    me = await signed_in(surface, services, 403)
    r = ok(await me.link("contract", CONTRACT))
    assert "flow_id" in r.data
    assert await link_messages(services) == []
    assert (await me.link("contract", CONTRACT, "secret", "zz")).status == 422  # a bad digest matches nothing


@pytest.mark.parametrize("failure", ["status", "garbage", "not_json", "no_found", "timeout", "down"])
async def test_a_failing_billing_system_fails_closed_with_503_and_writes_nothing(surface, services, billing, failure):
    billing.known[("contract", CONTRACT)] = {"owner_phone": OWNER, "secret_sha256": sha("7")}
    me = await signed_in(surface, services, 404)
    before = await counts(services)
    if failure == "status":
        billing.fail = Reply(500, {"error": "boom"})
    elif failure == "garbage":
        billing.fail = Reply(200, ["found", True])
    elif failure == "not_json":
        billing.fail = Reply(200, "<html>maintenance</html>", "text/html")
    elif failure == "no_found":
        billing.fail = Reply(200, {"owner_phone": OWNER})
    elif failure == "timeout":
        billing.gateway.delay = 3.0  # past the 1.2 s timeout
    else:
        billing.gateway.close()
    for method, secret in (("secret", "7"), ("sms", None)):
        r = await me.link("contract", CONTRACT, method, secret)
        assert r.status == 503, (failure, answer(r))
        assert "система расчётов не отвечает" in shown(r) and CYRILLIC.search(shown(r))
        if not me.ui:
            assert r.code == "registry_unavailable"
    assert await counts(services) == before


async def test_parallel_linking_through_the_billing_system_exactly_one_wins(surface, surface_factory, services,
                                                                            billing):
    billing.known[("contract", CONTRACT)] = {"owner_phone": None, "secret_sha256": sha("7")}
    billing.gateway.delay = 0.05  # both ask before either links
    racers = [await signed_in(surface, services, 405), await signed_in(surface_factory(), services, 406)]
    results = await asyncio.gather(*(c.link("contract", CONTRACT, "secret", "7") for c in racers))
    assert sorted(r.status for r in results) == sorted([201 if not racers[0].ui else 303, 409])
    assert len(await links(services)) == 1


def test_an_http_registry_needs_a_url_and_the_start_names_the_setting():
    with pytest.raises(SettingsError, match="DOSTUP_CONTRACTS"):
        make_settings(DOSTUP_CONTRACTS__REGISTRY="http")
    settings = make_settings(DOSTUP_CONTRACTS__REGISTRY="http", DOSTUP_CONTRACTS__URL="https://billing.example/x")
    assert settings.contracts.url == "https://billing.example/x"


async def test_the_adapter_alone_gives_the_entry_that_registration_by_card_will_use(billing):
    """The ``sber`` preset's registration by card asks ``lookup("card", number)`` for the phone on file."""
    from dostup.core.crypto import Keyring

    billing.known[("card", CARD)] = {"owner_phone": OWNER, "secret_sha256": sha("4321")}
    registry = HttpRegistry(ContractSettings(registry="http", url=billing.gateway.url), Keyring(TEST_SECRET))
    entry = await registry.lookup("card", CARD)
    assert entry is not None and entry.owner_phone == OWNER and entry.display == CARD_MASKED
    assert entry.has_secret and entry.secret_matches("4321") and not entry.secret_matches("4322")
    assert CARD not in repr(entry)
    assert await registry.lookup("card", "2202200012345672") is None
    assert json.loads(billing.gateway.requests[0].body) == {"kind": "card", "number": CARD}
