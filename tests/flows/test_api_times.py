"""Every time the JSON API answers is RFC 3339 with its zone (``…Z``), as OpenAPI's ``date-time``
says: a JavaScript client reads a time without an offset as its own local time, three hours off in
Moscow.  The answers of a cabinet's ordinary calls are walked, every time in them checked."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.flows.helpers import PASSWORD, phone_e164, register, registration_fields
from tests.flows.passkey_support import Authenticator
from tests.flows.test_passkeys import Passkeys
from tests.support import ApiSurface

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def times(value: Any, path: str = "") -> dict[str, str]:
    """Every string in a JSON answer that looks like a time, by where it stands."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in times(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in times(item, f"{path}[{i}]").items()}
    return {path: value} if isinstance(value, str) and TIME.match(value) else {}


@pytest.fixture
def api(client_factory: Any) -> ApiSurface:
    return ApiSurface(client_factory())


async def test_every_time_in_the_api_answers_is_utc_with_its_zone(api: ApiSurface, services: Any) -> None:
    client = api.client
    started = await client.post("/api/v1/registration", json=await registration_fields(api, phone_e164(71)))
    assert started.status_code == 201, started.text
    answers = [started.json()]
    phone = await register(ApiSurface(client), phone_e164(72))
    signed_in = await client.post("/api/v1/login", json={"method": "phone", "phone": phone, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    answers.append(signed_in.json())
    auth = {"Authorization": f"Bearer {signed_in.json()['session']['token']}"}
    for path in ("/api/v1/whoami", "/api/v1/sessions", "/api/v1/security-events", "/api/v1/notifications"):
        r = await client.get(path, headers=auth)
        assert r.status_code == 200, (path, r.text)
        answers.append(r.json())
    email = await client.post("/api/v1/settings/contacts/email", headers=auth, json={"email": "times@example.ru"})
    if email.status_code == 403:  # a contact change asks for a recent sign-in first
        rotated = await client.post("/api/v1/reauth", headers=auth, json={"password": PASSWORD})
        auth = {"Authorization": f"Bearer {rotated.json()['token']}"}
        email = await client.post("/api/v1/settings/contacts/email", headers=auth, json={"email": "times@example.ru"})
    assert email.status_code == 201, email.text
    answers.append(email.json())
    api.token = auth["Authorization"].removeprefix("Bearer ")
    added = await Passkeys(api).add(Authenticator(), "Телефон")
    assert added.ok, added
    totp = await client.post("/api/v1/settings/totp", headers=auth)
    assert totp.status_code in (200, 201), totp.text
    answers += [added.data, (await client.get("/api/v1/settings/passkeys", headers=auth)).json(), totp.json()]

    found = [(f"{i}{where}", text) for i, answer in enumerate(answers) for where, text in times(answer).items()]
    expected = {"0.code_expires_at", "0.expires_at", "1.account.created_at", "1.session.expires_at",
                "2.session.authenticated_at", "3.items[0].last_seen_at", "4.items[0].created_at",
                "5.items[0].created_at", "6.code_expires_at", "7.created_at", "8.items[0].created_at", "9.expires_at"}
    assert expected <= {where for where, _ in found}, sorted(found)  # sent_at too, once the worker sent it
    now = services.clock.now().replace(tzinfo=dt.UTC)
    for where, text in found:
        assert text.endswith("Z"), (where, text)
        when = dt.datetime.fromisoformat(text)
        assert when.utcoffset() == dt.timedelta(0), (where, text)
        assert abs(when - now) < dt.timedelta(days=31), (where, text)  # UTC, not a local time passed off as one


async def test_the_openapi_document_calls_them_date_time(client: Any) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    stamped = [f"{name}.{field}" for name, schema in spec["components"]["schemas"].items()
               for field, prop in schema.get("properties", {}).items() if "date-time" in str(prop)]
    assert len(stamped) >= 20 and "SessionOut.expires_at" in stamped and "NamedEvent.created_at" in stamped
