"""Bad input on every field of every form, through the pages and the API, on both backends.

The rule (SPEC, SECURITY.md): bad input gets a clear, localised error (Russian by default) and a
4xx — never a 500 and never a half-written record.  Every test below checks the status, the field
named, that the message is Russian, and that nothing was written: no account, flow, code, outbox
message, consent or session.
"""

from __future__ import annotations

import base64
import html
import json
import re
from typing import Any

from sqlalchemy import func, select

from dostup.persistence.models import Account, Consent, Flow, OneTimeCode, OutboxMessage, Session
from tests.factories import make_account
from tests.flows.helpers import PASSWORD, phone_e164, registration_fields
from tests.support import ApiSurface, Result, UiSurface, captcha_token, last_code

CYRILLIC = re.compile(r"[А-Яа-яЁё]")
_ERROR_PAGE = re.compile(r'<p role="alert">([^<]*)</p>')
TABLES = {"accounts": Account, "flows": Flow, "codes": OneTimeCode, "outbox": OutboxMessage,
          "consents": Consent, "sessions": Session}
NOTHING = dict.fromkeys(TABLES, 0)


# -- helpers ---------------------------------------------------------------------------------

async def written(services: Any) -> dict[str, int]:
    async with services.db.read() as s:
        return {name: (await s.execute(select(func.count()).select_from(model))).scalar_one()
                for name, model in TABLES.items()}


def message_of(r: Result) -> str:
    """The message a user sees: API ``error.message``, a form's field/alert, or an error page."""
    if r.message:
        return html.unescape(r.message)
    page = _ERROR_PAGE.search(str(r.data.get("html", "")))
    return html.unescape(page.group(1)) if page else ""


def assert_russian(text: str, label: object = "") -> None:
    assert text and CYRILLIC.search(text), (label, text)


def assert_refused(r: Result, status: int, field: str | None, label: object = "", message: str | None = None) -> None:
    assert not r.ok, (label, "accepted", r.data)
    assert (r.status, r.field) == (status, field), (label, r.status, r.field, r.code, r.message)
    text = message_of(r)
    assert_russian(text, label)
    if message is not None:
        assert text == message, (label, text)


def ru(services: Any, message_id: str, **params: Any) -> str:
    return services.catalog.text(message_id, "ru", **params)


def is_postgres(backend: dict[str, str]) -> bool:
    return backend["DOSTUP_DATABASE_URL"].startswith("postgresql")


async def start_registration(surface: ApiSurface | UiSurface, phone: str, **over: Any) -> str:
    r = await surface.register(**await registration_fields(surface, phone, **over))
    assert r.ok, (r.status, r.field, r.message)
    return str(r.data["flow_id"])


async def register_bad(surface: ApiSurface | UiSurface, phone: str = "+79120000001", **over: Any) -> Result:
    """A registration that is valid except for ``over`` (``None`` leaves a field out)."""
    return await surface.register(**await registration_fields(surface, phone, **over))


async def post_json(client: Any, path: str, body: bytes, content_type: str = "application/json", **kw: Any) -> Any:
    return await client.post(path, content=body, headers={"content-type": content_type}, **kw)


def assert_error_shape(resp: Any, status: int | tuple[int, ...], label: object = "") -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert resp.status_code in statuses, (label, resp.status_code, resp.text[:300])
    body = resp.json()
    assert set(body) == {"error"}, (label, body)
    err = body["error"]
    assert {"code", "message", "field"} <= set(err), (label, err)
    assert isinstance(err["code"], str) and err["code"], (label, err)
    assert_russian(err["message"], label)
    return dict(err)


# -- registration: phone and country -----------------------------------------------------------

BAD_PHONES = [
    ("letters", "+7 912 ABC-67-89"),
    ("Cyrillic letters", "+7 912 345-67-89 доб. 5"),
    ("CRLF inside", "+7912\r\n3456789"),
    ("CRLF header", "+79120000001\r\nX-Injected: 1"),
    ("a list", "+79120000001,+79120000002"),
    ("a list with a space", "+79120000001 +79120000002"),
    ("too long", "+7" + "9" * 40),
    ("invalid number", "+7 000 000-00-00"),
    ("too short", "12345"),
    ("NUL", "+7912000000\x001"),
    ("markup", '"><script>alert(1)</script>'),
]


async def test_registration_refuses_bad_phones(surface, services):
    for label, value in BAD_PHONES:
        r = await register_bad(surface, value)
        assert_refused(r, 422, "phone", label, ru(services, "phone.invalid"))
        if surface.name == "ui":
            assert "<script>alert(1)" not in r.data["html"]
    r = await register_bad(surface, "")
    assert_refused(r, 422, "phone", "empty", ru(services, "phone.required"))
    r = await register_bad(surface, "   ")
    assert_refused(r, 422, "phone", "blank", ru(services, "phone.required"))
    assert await written(services) == NOTHING


async def test_registration_refuses_an_unknown_country(surface, services):
    for value in ("XX", "ZZ", "RUS", "001", "RUSSIA"):
        r = await register_bad(surface, "89120000001", country=value)
        assert_refused(r, 422, "country", value)
        if r.code != "bad_request":  # the API's schema caps the length at 3 before the domain sees it
            assert message_of(r) == ru(services, "phone.country_invalid")
    assert await written(services) == NOTHING


async def test_registration_phone_given_twice_addresses_one_number_at_most(surface, services):
    first, second = phone_e164(11), phone_e164(12)
    fields = await registration_fields(surface, first)
    if isinstance(surface, ApiSurface):
        r = await surface.register(**{**fields, "phone": [first, second]})
        assert_refused(r, 422, "phone", "JSON list")
        assert await written(services) == NOTHING
        return
    form = {k: ("on" if v is True else v) for k, v in fields.items() if v not in (None, False)}
    form["phone"] = [first, second]  # ?phone=a&phone=b: the first wins
    form["csrf_token"] = await surface.csrf("/registration")
    resp = await surface.client.post("/registration", data=form)
    assert resp.status_code == 303
    async with services.db.read() as s:
        targets = (await s.execute(select(OutboxMessage.to))).scalars().all()
    assert targets == [first]


# -- registration: email ---------------------------------------------------------------------

BAD_EMAILS = [
    ("CRLF header injection", "ivan@example.com\r\nBcc: victim@example.com"),
    ("LF header injection", "ivan@example.com\nBcc: victim@example.com"),
    ("without @", "ivan.example.com"),
    ("two @", "ivan@@example.com"),
    ("a list", "ivan@example.com,petr@example.com"),
    ("display name", "Ivan <ivan@example.com>"),
    ("too long", "ivan@" + "a" * 250 + ".ru"),
    ("local part over 64", "a" * 65 + "@example.com"),
    ("NUL", "ivan@example.com\x00"),
]


async def test_registration_refuses_bad_emails(surface, services):
    for label, value in BAD_EMAILS:
        r = await register_bad(surface, email=value)
        assert_refused(r, 422, "email", label, ru(services, "email.invalid"))
    assert await written(services) == NOTHING


async def test_registration_needs_an_email_when_no_sms_can_be_sent(surface, services):
    for phone in ("+7 495 123-45-67", "+49 151 23456789", "+7 701 123 4567"):  # RU landline, DE and KZ mobiles
        r = await register_bad(surface, phone)
        assert_refused(r, 422, "email", phone, ru(services, "registration.email_needed"))
        r = await register_bad(surface, phone, email="not-an-email")
        assert_refused(r, 422, "email", phone, ru(services, "email.invalid"))
    assert await written(services) == NOTHING


# -- registration: password and its repeat ---------------------------------------------------

def pw(value: str) -> dict[str, str]:
    return {"password": value, "password_repeat": value}


async def test_registration_password_length_limits(surface, services):
    too_short = "Tundra7"
    assert len(too_short) == 7
    r = await register_bad(surface, **pw(too_short))
    assert_refused(r, 422, "password", "7", ru(services, "password.too_short", min=8))
    for label, value in [("129", "Ab1-" * 32 + "x"), ("65 ligatures = 130 after NFKC", "ﬁ" * 65)]:
        r = await register_bad(surface, **pw(value))
        assert_refused(r, 422, "password", label, ru(services, "password.too_long", max=128))
    r = await register_bad(surface, **pw(""))
    assert_refused(r, 422, "password", "empty", ru(services, "password.required"))
    assert await written(services) == NOTHING

    # The edges themselves are accepted: 8 characters, 128 code points, 64 ligatures (128 after NFKC).
    for n, value in enumerate(["Tundra78", "Ab1-" * 32, "ﬁ" * 64]):
        await start_registration(surface, phone_e164(20 + n), **pw(value))
    assert (await written(services))["flows"] == 3


async def test_a_4kb_password_is_refused_without_hashing(surface, services, monkeypatch):
    calls: list[int] = []
    real_hash = services.hasher.hash

    async def spy(password: str) -> str:
        calls.append(len(password))
        return await real_hash(password)

    monkeypatch.setattr(services.hasher, "hash", spy)
    for size in (4096, 4097, 30_000):  # password and repeat together stay under the 64 KB body limit
        fields = await registration_fields(surface, phone_e164(2), **pw("x" * size))
        r = await surface.register(**fields)
        assert_refused(r, 422, "password", size, ru(services, "password.too_long", max=128))
    huge_repeat = await registration_fields(surface, phone_e164(2), password_repeat="x" * 5000)
    assert_refused(await surface.register(**huge_repeat), 422, "password_repeat", "repeat")
    assert calls == []
    assert await written(services) == NOTHING


async def test_registration_refuses_weak_passwords(surface, services):
    phone = phone_e164(7)  # +79120000007
    cases = [
        ("password123", "password.common"),
        ("qwertyuiop", "password.common"),
        ("QWERTYUIOP", "password.common"),
        ("dostup123", "password.operator_name"),
        ("Dostup-2024", "password.operator_name"),
        ("kitkitkit", "password.operator_name"),
        ("KIT_kit_2024", "password.operator_name"),
        ("кит12345678", "password.operator_name"),
        ("79120000007", "password.personal"),
        ("my-9120000007-pass", "password.personal"),
    ]
    for value, message_id in cases:
        r = await register_bad(surface, phone, **pw(value))
        assert_refused(r, 422, "password", value, ru(services, message_id))
    r = await register_bad(surface, phone, email="lantern@example.com", **pw("lantern@example.com1"))
    assert_refused(r, 422, "password", "own email", ru(services, "password.personal"))
    assert await written(services) == NOTHING


async def test_registration_refuses_a_lone_surrogate_in_the_password(client, services):
    # Valid JSON, not encodable text: argon2 used to crash on it (a 500 after the captcha was spent).
    api = ApiSurface(client)
    fields = await registration_fields(api, phone_e164(3), **pw("Tundra-\ud800-Lantern"))
    resp = await post_json(client, "/api/v1/registration", json.dumps(fields).encode())
    err = assert_error_shape(resp, 422, "surrogate")
    assert err["field"] == "password" and err["message"] == ru(services, "password.invalid_characters")
    assert await written(services) == NOTHING


async def test_registration_refuses_a_repeat_that_does_not_match(surface, services):
    mismatch = ru(services, "password.mismatch")
    for label, repeat in [("different", PASSWORD + "!"), ("case", PASSWORD.upper()), ("empty", ""),
                          ("missing", None), ("trailing space", PASSWORD + " ")]:
        r = await register_bad(surface, password_repeat=repeat)
        assert_refused(r, 422, "password_repeat", label, mismatch)
    assert await written(services) == NOTHING


# -- registration: segment, consents, captcha ------------------------------------------------

async def test_registration_refuses_an_unknown_segment(surface, services):
    for value in ("admin", "KIT", "kit\x00", "x" * 40, "kit_retail; DROP TABLE accounts"):
        r = await register_bad(surface, segment=value)
        assert_refused(r, 422, "segment", value)
        if r.code != "bad_request":  # the API's schema caps the length at 32
            assert message_of(r) == ru(services, "segment.invalid")
    assert await written(services) == NOTHING


async def test_registration_consents(surface, services):
    required = ru(services, "consent.required")
    r = await register_bad(surface, consent_personal_data=False)
    assert_refused(r, 422, "consent_personal_data", "missing", required)
    for value in ("maybe", "", "0"):
        r = await register_bad(surface, consent_personal_data=value)
        # The page treats anything but a ticked box as "no"; the API refuses a non-boolean.
        assert_refused(r, 422, "consent_personal_data", value)
        if surface.name == "ui":
            assert message_of(r) == required
    assert await written(services) == NOTHING
    # Marketing is optional: the API refuses a non-boolean, the page takes anything but a tick as "no".
    if surface.name == "api":
        r = await register_bad(surface, consent_marketing="maybe")
        assert_refused(r, 422, "consent_marketing", "maybe")
        assert await written(services) == NOTHING
    else:
        await start_registration(surface, phone_e164(5), consent_marketing="maybe")
        async with services.db.read() as s:
            flow = (await s.execute(select(Flow))).scalar_one()
        assert flow.data["consent_marketing"] is False


def _forged_captcha() -> str:
    payload = {"algorithm": "SHA-256", "challenge": "0" * 64, "number": 1, "salt": "x?action=register",
               "signature": "0" * 64}
    return base64.b64encode(json.dumps(payload).encode()).decode()


async def test_registration_refuses_a_missing_or_bad_captcha(surface, services):
    r = await register_bad(surface, captcha=None)
    assert_refused(r, 422, "captcha", "missing", ru(services, "captcha.required"))
    invalid = ru(services, "captcha.invalid")
    for label, token in [("garbage", "not-a-captcha"), ("base64 garbage", base64.b64encode(b"[1,2]").decode()),
                         ("forged", _forged_captcha()), ("huge", "A" * 5000),
                         ("for login", await captcha_token(surface.client, "login")),
                         ("for recovery", await captcha_token(surface.client, "recover"))]:
        r = await register_bad(surface, captcha=token)
        assert_refused(r, 422, "captcha", label, invalid)
    assert await written(services) == NOTHING


async def test_a_captcha_token_works_once(surface, services):
    token = await captcha_token(surface.client, "register")
    await start_registration(surface, phone_e164(8), captcha=token)
    before = await written(services)
    r = await register_bad(surface, phone_e164(9), captcha=token)
    assert_refused(r, 422, "captcha", "replayed", ru(services, "captcha.invalid"))
    assert await written(services) == before
    assert before["flows"] == 1 and before["outbox"] == 1


async def test_mass_assignment_is_ignored(surface, services):
    # A foreign mobile: the code goes by email, so the phone must stay unverified whatever we send.
    phone, email = "+4915123456789", "lantern@example.com"
    extra = {"is_admin": True, "role": "admin", "phone_verified": True, "level": "confirmed", "state": "blocked",
             "id": "x" * 32, "password_hash": "$argon2id$forged", "login": "admin", "phone_verified_at": "2020-01-01"}
    flow_id = await start_registration(surface, phone, email=email, **extra)
    r = await surface.confirm(flow_id, await last_code(surface.client, email))
    assert r.ok, (r.status, r.message)
    async with services.db.read() as s:
        account = (await s.execute(select(Account))).scalar_one()
    assert account.role == "customer"
    assert account.state == "active"
    assert account.id != "x" * 32
    assert account.login is None
    assert account.phone == phone and account.phone_verified_at is None
    assert account.email == email and account.email_verified_at is not None
    assert account.password_hash.startswith("$argon2id$") and account.password_hash != "$argon2id$forged"


# -- registration: the code step -------------------------------------------------------------

BAD_CODES = [
    ("letters", "abcdef", "code.format"),
    ("5 digits", "12345", "code.format"),
    ("7 digits", "1234567", "code.format"),
    ("space inside", "123 456", "code.format"),
    ("Arabic-Indic digits", "١٢٣٤٥٦", "code.format"),
    ("full-width digits", "１２３４５６", "code.format"),
    ("superscript digits", "¹²³⁴⁵⁶", "code.format"),
    ("NUL", "12345\x00", "code.format"),
    ("huge", "1" * 5000, "code.format"),
    ("empty", "", "code.required"),
    ("spaces", "      ", "code.required"),
]


async def test_code_step_refuses_malformed_codes_without_spending_a_try(surface, services):
    phone = phone_e164(30)
    flow_id = await start_registration(surface, phone)
    for label, value, message_id in BAD_CODES:
        r = await surface.confirm(flow_id, value)
        assert_refused(r, 422, "code", label, ru(services, message_id, length=6))
    async with services.db.read() as s:
        code = (await s.execute(select(OneTimeCode))).scalar_one()
    assert code.attempts == 0 and code.used_at is None
    after = await written(services)
    assert (after["accounts"], after["sessions"], after["consents"]) == (0, 0, 0)
    # Nothing above spent a try: the right code still works.
    assert (await surface.confirm(flow_id, await last_code(surface.client, phone))).ok
    assert (await written(services))["accounts"] == 1


async def test_wrong_code_spends_a_try_and_creates_nothing(surface, services):
    phone = phone_e164(31)
    flow_id = await start_registration(surface, phone)
    right = await last_code(surface.client, phone)
    wrong = "000000" if right != "000000" else "111111"
    r = await surface.confirm(flow_id, wrong)
    assert_refused(r, 422, "code", "wrong", ru(services, "code.invalid"))
    async with services.db.read() as s:
        assert (await s.execute(select(OneTimeCode.attempts))).scalar_one() == 1
    after = await written(services)
    assert (after["accounts"], after["sessions"], after["consents"]) == (0, 0, 0)


async def test_code_for_an_unknown_or_oversized_flow_is_404(surface, services):
    for flow_id in ("no-such-flow", "a" * 64, "a" * 65, "a" * 5000, "../../etc/passwd"):
        r = await surface.confirm(flow_id, "123456")
        assert_refused(r, 404, None, flow_id[:10])
        if "/" in flow_id:  # "../.." in the API's URL matches no route at all: the generic "not found" is right
            assert message_of(r) in (ru(services, "flow.not_found"), ru(services, "error.not_found"))
        else:
            assert message_of(r) == ru(services, "flow.not_found"), flow_id[:10]
    assert await written(services) == NOTHING


async def test_code_for_a_flow_id_with_nul_is_404(surface, services):
    flow_id = "abc%00def" if surface.name == "api" else "abc\x00def"
    r = await surface.confirm(flow_id, "123456")
    assert_refused(r, 404, None, "NUL", ru(services, "flow.not_found"))
    assert await written(services) == NOTHING


async def test_code_for_a_completed_flow_is_refused(surface, surface_factory, services):
    phone = phone_e164(32)
    flow_id = await start_registration(surface, phone)
    code = await last_code(surface.client, phone)
    assert (await surface.confirm(flow_id, code)).ok
    before = await written(services)
    other = surface_factory()  # a second browser replays the same flow and code
    r = await other.confirm(flow_id, code)
    assert_refused(r, 409, None, "replay", ru(services, "flow.step_not_allowed"))
    assert await written(services) == before


# -- sign-in ---------------------------------------------------------------------------------

async def test_sign_in_refuses_an_unknown_method(surface, services):
    for value in ("email", "PHONE", "", "phone\x00"):
        r = await surface.login(method=value, phone="+79123456789", login="ivan", password=PASSWORD)
        assert_refused(r, 422, "method", value, ru(services, "login.method_invalid"))
    assert (await written(services))["sessions"] == 0


async def test_sign_in_refuses_bad_phones(surface, services):
    for label, value in BAD_PHONES:
        r = await surface.login(method="phone", phone=value, country="RU", password=PASSWORD)
        assert_refused(r, 422, "phone", label, ru(services, "phone.invalid"))
    r = await surface.login(method="phone", phone="", country="RU", password=PASSWORD)
    assert_refused(r, 422, "phone", "empty", ru(services, "phone.required"))
    for country in ("XX", "RUS"):
        r = await surface.login(method="phone", phone="89123456789", country=country, password=PASSWORD)
        assert_refused(r, 422, "country", country, ru(services, "phone.country_invalid"))
    assert await written(services) == NOTHING


async def test_sign_in_refuses_bad_logins(surface, services):
    cases = [
        ("iv@n", "login.alphabet"),
        ("ivan petrov", "login.alphabet"),
        ("ivan'--", "login.alphabet"),
        (".ivan", "login.alphabet"),
        ("ivan-", "login.alphabet"),
        ("ivаn", "login.confusable"),  # the «а» is Cyrillic
        ("иван", "login.confusable"),
        ("iv", "login.length"),
        ("a" * 65, "login.length"),
        ("", "login.required"),
    ]
    for value, message_id in cases:
        r = await surface.login(method="login", login=value, password=PASSWORD)
        assert_refused(r, 422, "login", value, ru(services, message_id))
    assert await written(services) == NOTHING


async def test_sign_in_refuses_bad_passwords_before_any_hashing(surface, services, monkeypatch):
    calls: list[int] = []
    real_verify = services.hasher.verify

    async def spy(stored: str | None, password: str) -> tuple[bool, bool]:
        calls.append(len(password))
        return await real_verify(stored, password)

    monkeypatch.setattr(services.hasher, "verify", spy)
    r = await surface.login(method="phone", phone="+79123456789", password="")
    assert_refused(r, 422, "password", "empty", ru(services, "password.required"))
    r = await surface.login(method="phone", phone="+79123456789", password="x" * 4097)
    assert_refused(r, 422, "password", "4 KB", ru(services, "password.too_long", max=128))
    if surface.name == "api":
        resp = await post_json(surface.client, "/api/v1/login", json.dumps(
            {"method": "phone", "phone": "+79123456789", "password": "Tundra-\udc80-Lantern"}).encode())
        err = assert_error_shape(resp, 422, "surrogate")
        assert err["field"] == "password"
    assert calls == []
    assert await written(services) == NOTHING


async def test_wrong_credentials_are_401_with_one_russian_message(surface, services):
    await make_account(services, "+79123456789", login="ivan")
    by_phone = ru(services, "login.invalid_credentials")
    for label, phone, password in [("wrong password", "+79123456789", PASSWORD + "!"),
                                   ("unknown phone", "+79123450000", PASSWORD),
                                   ("another spelling, wrong password", "8 912 345-67-89", "Tundra-Lantern-43")]:
        r = await surface.login(method="phone", phone=phone, country="RU", password=password)
        assert_refused(r, 401, None, label, by_phone)
    r = await surface.login(method="login", login="ivan", password=PASSWORD + "!",
                            captcha=await captcha_token(surface.client, "login"))
    assert_refused(r, 401, None, "login", ru(services, "login.invalid_login_credentials"))
    after = await written(services)
    assert (after["accounts"], after["sessions"], after["flows"], after["outbox"]) == (1, 0, 0, 0)


async def test_sign_in_refuses_a_missing_or_bad_captcha(surface, services):
    await make_account(services, "+79123456789", login="ivan")
    r = await surface.login(method="login", login="ivan", password=PASSWORD)
    assert_refused(r, 422, "captcha", "missing", ru(services, "captcha.required"))
    for label, token in [("garbage", "not-a-captcha"), ("forged", _forged_captcha()),
                         ("for registration", await captcha_token(surface.client, "register"))]:
        r = await surface.login(method="login", login="ivan", password=PASSWORD, captcha=token)
        assert_refused(r, 422, "captcha", label, ru(services, "captcha.invalid"))
    token = await captcha_token(surface.client, "login")
    r = await surface.login(method="login", login="ivan", password=PASSWORD + "!", captcha=token)
    assert r.status == 401
    r = await surface.login(method="login", login="ivan", password=PASSWORD, captcha=token)
    assert_refused(r, 422, "captcha", "replayed", ru(services, "captcha.invalid"))
    assert (await written(services))["sessions"] == 0


# -- the JSON API: bodies --------------------------------------------------------------------

API_WRITES = ["/api/v1/registration", "/api/v1/login", "/api/v1/registration/some-flow/code"]


async def test_api_malformed_json_is_400_with_the_error_shape(client, services):
    bodies = [b"{bad", b'{"phone": "+7912', b"{'phone': 1}", b'{"phone": 1,}', b"\xff\xfe{}", b"NaN-ish",
              b'{"a": 1} trailing', b'{"phone": "\\x"}']
    for body in bodies:
        for path in API_WRITES:
            resp = await post_json(client, path, body)
            err = assert_error_shape(resp, 400, (path, body))
            assert err["field"] is None
    for nested in (b"[" * 30_000 + b"]" * 30_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
        resp = await post_json(client, "/api/v1/registration", nested)
        assert_error_shape(resp, (400, 422), "deeply nested")
    assert await written(services) == NOTHING


async def test_api_wrong_types_are_422_with_the_error_shape_and_the_field(client, services):
    cases = [
        ("/api/v1/registration", {"phone": 123}, "phone"),
        ("/api/v1/registration", {"phone": ["+79120000001", "+79120000002"]}, "phone"),
        ("/api/v1/registration", {"phone": {"$ne": ""}}, "phone"),
        ("/api/v1/registration", {"consent_personal_data": "maybe"}, "consent_personal_data"),
        ("/api/v1/registration", {"consent_marketing": [True]}, "consent_marketing"),
        ("/api/v1/registration", {"country": None}, "country"),
        ("/api/v1/registration", {"password": 12345678}, "password"),
        ("/api/v1/registration", {"captcha": {"number": 1}}, "captcha"),
        ("/api/v1/login", {"phone": 123, "password": PASSWORD}, "phone"),
        ("/api/v1/login", {"method": ["phone"], "password": PASSWORD}, "method"),
        ("/api/v1/login", {"remember": "maybe", "password": PASSWORD}, "remember"),
        ("/api/v1/login", {"method": "x" * 17, "password": PASSWORD}, "method"),
        ("/api/v1/registration/some-flow/code", {"code": 123456}, "code"),
        ("/api/v1/registration/some-flow/code", {"code": ["123456"]}, "code"),
    ]
    for path, body, field in cases:
        resp = await post_json(client, path, json.dumps(body).encode())
        err = assert_error_shape(resp, 422, (path, body))
        assert err["field"] == field, (path, body, err)
    for top in (b"[]", b'"phone"', b"null", b"1", b""):
        for path in API_WRITES:
            resp = await post_json(client, path, top)
            assert_error_shape(resp, 422, (path, top))
    assert await written(services) == NOTHING


async def test_api_errors_follow_accept_language(client, services):
    resp = await post_json(client, "/api/v1/login", json.dumps({"phone": "abc", "password": PASSWORD}).encode())
    assert resp.json()["error"]["message"] == ru(services, "phone.invalid")
    resp = await client.post("/api/v1/login", json={"phone": "abc", "password": PASSWORD},
                             headers={"Accept-Language": "en-GB,en;q=0.9"})
    message = resp.json()["error"]["message"]
    assert resp.status_code == 422 and message == services.catalog.text("phone.invalid", "en")
    assert message and not CYRILLIC.search(message)


async def test_bodies_over_64kb_are_413(client, services):
    big = json.dumps({"phone": "+79120000001", "password": "x" * (64 * 1024)}).encode()
    for path in API_WRITES:
        resp = await post_json(client, path, big)
        err = assert_error_shape(resp, 413, path)
        assert err["code"] == "payload_too_large"
    ui = UiSurface(client)
    token = await ui.csrf("/registration")
    resp = await client.post("/registration", data={"csrf_token": token, "password": "x" * (64 * 1024)})
    assert resp.status_code == 413
    assert resp.json()["error"]["message"] == ru(services, "error.too_large")

    # Without Content-Length the limit trips while the body is read: inside FastAPI's body parsing
    # (which used to turn it into a 400) and inside the pages' form parsing (which made it a 422).
    async def chunks(first: bytes = b""):
        yield first
        for _ in range(10):
            yield b" " * 10_000

    resp = await client.post("/api/v1/registration", content=chunks(), headers={"content-type": "application/json"})
    assert_error_shape(resp, 413, "streamed API")
    resp = await client.post("/registration", content=chunks(f"csrf_token={token}&phone=".encode()),
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 413
    assert resp.json()["error"]["message"] == ru(services, "error.too_large")
    assert await written(services) == NOTHING


async def test_api_refuses_non_json_content_types(client, services):
    body = json.dumps({"phone": "+79120000001", "password": PASSWORD}).encode()
    cases = [
        (body, "text/plain"),
        (b"phone=%2B79120000001&password=x", "application/x-www-form-urlencoded"),
        (b"--b\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n+79120000001\r\n--b--\r\n",
         "multipart/form-data; boundary=b"),
        (b"<phone>+79120000001</phone>", "application/xml"),
        (body, ""),
    ]
    for content, content_type in cases:
        for path in API_WRITES:
            resp = await post_json(client, path, content, content_type)
            assert 400 <= resp.status_code < 500, (path, content_type, resp.status_code)
            assert_error_shape(resp, (400, 415, 422), (path, content_type))
    assert await written(services) == NOTHING


# -- the pages: forms ------------------------------------------------------------------------

async def test_forms_posted_without_csrf_token_are_403(client, services):
    await client.get("/registration")  # the browser has its CSRF cookie, but the form lacks the field
    forms = {
        "/registration": {"phone": phone_e164(40), "password": PASSWORD, "password_repeat": PASSWORD,
                          "consent_personal_data": "on"},
        "/registration/code": {"flow": "some-flow", "code": "123456"},
        "/registration/resend": {"flow": "some-flow"},
        "/login": {"method": "phone", "phone": phone_e164(40), "password": PASSWORD},
        "/logout": {},
    }
    for path, data in forms.items():
        resp = await client.post(path, data=data)
        assert resp.status_code == 403, (path, resp.status_code)
        page = _ERROR_PAGE.search(resp.text)
        assert page and html.unescape(page.group(1)) == ru(services, "error.csrf"), path
    assert await written(services) == NOTHING


async def test_forms_refuse_file_uploads(client, services):
    ui = UiSurface(client)
    for path, page in (("/registration", "/registration"), ("/login", "/login")):
        data = {"csrf_token": await ui.csrf(page), "phone": phone_e164(41), "password": PASSWORD,
                "password_repeat": PASSWORD, "consent_personal_data": "on", "method": "phone"}
        resp = await client.post(path, data=data, files={"avatar": ("a.php", b"<?php echo 1; ?>", "image/png")})
        assert 400 <= resp.status_code < 500, (path, resp.status_code)
        found = _ERROR_PAGE.search(resp.text)
        assert found and html.unescape(found.group(1)) == ru(services, "error.bad_request"), path
    assert await written(services) == NOTHING


async def test_forms_refuse_too_many_fields_and_non_form_bodies(client, services):
    ui = UiSurface(client)
    token = await ui.csrf("/registration")
    data = {f"f{i}": "x" for i in range(60)}
    data["csrf_token"] = token
    resp = await client.post("/registration", data=data)
    assert resp.status_code == 422
    assert_russian(html.unescape(_ERROR_PAGE.search(resp.text).group(1)), "fields")
    for content, content_type in [(json.dumps({"csrf_token": token, "phone": phone_e164(42)}).encode(),
                                   "application/json"),
                                  (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
                                  (b"--x\r\n\r\n", "multipart/form-data; boundary=x"),
                                  (b"--x\r\nbroken", "multipart/form-data")]:
        resp = await client.post("/registration", content=content, headers={"content-type": content_type})
        assert 400 <= resp.status_code < 500, (content_type, resp.status_code)
        found = _ERROR_PAGE.search(resp.text)
        assert found, content_type
        assert_russian(html.unescape(found.group(1)), content_type)
    assert await written(services) == NOTHING
