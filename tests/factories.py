"""One set of factories for the flow tests: an account, and a surface signed in to one.

Plain functions taking the ``services`` fixture, so a test file imports them instead of defining its own
``_user`` / ``_account`` / ``signed_in``.  The account is written straight through the service's own
database and hasher: what ``dostup admin create-user`` stores (confirmed phone and email, a checked
password), without running the migrations and starting a hasher for every account (the command itself
is tested in ``tests/cli``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from dostup.credentials.password import PasswordPolicy
from dostup.identity import repository as accounts
from dostup.identity.email import parse_email
from dostup.identity.login import normalize_login
from dostup.identity.phone import parse_phone
from tests.flows.helpers import PASSWORD, phone_e164
from tests.support import Surface


class Made(NamedTuple):
    phone: str | None
    id: str


async def make_account(services: Any, who: int | str | None = None, email: str | None = None, *,
                       login: str | None = None, password: str = PASSWORD, verify_phone: bool = True,
                       country: str = "RU", segment: str | None = None) -> Made:
    """A customer account.  ``who`` is a number (``+7912…`` made from it), a phone as typed, or None;
    ``verify_phone=False`` leaves the phone unconfirmed."""
    phone = parse_phone(phone_e164(who) if isinstance(who, int) else who, country).e164 if who is not None else None
    mail = parse_email(email) if email else None
    name = normalize_login(login) if login else None
    PasswordPolicy(services.settings.passwords, services.preset.operator_names).validate(
        password, personal=(phone or "", name or "", mail or ""))
    now = services.clock.now()
    password_hash = await services.hasher.hash(password)
    async with services.db.write() as s:
        account = accounts.new_account(
            now, phone=phone, phone_verified_at=now if phone and verify_phone else None, email=mail,
            email_verified_at=now if mail else None, login=name, password_hash=password_hash,
            password_changed_at=now, role="customer", segment=segment,
        )
        s.add(account)
    return Made(phone, account.id)


async def make_user(services: Any, n: int, *, login: str | None = None, email: str | None = None) -> str:
    """An account with a confirmed phone (and email, if given); returns the phone."""
    phone = (await make_account(services, n, login=login, email=email)).phone
    assert phone is not None
    return phone


async def sign_in(surface: Surface, phone: str, password: str = PASSWORD) -> Surface:
    r = await surface.login(method="phone", phone=phone, password=password)
    assert r.ok, (r.status, r.message)
    return surface


async def signed_in(surface: Surface, services: Any, n: int, **kw: Any) -> Surface:
    """A new account (see :func:`make_user`) signed in on ``surface``."""
    return await sign_in(surface, await make_user(services, n, **kw))


class StaffHeaders(dict[str, str]):
    """A staff bearer header, with the phone and TOTP secret it was made from (for the browser)."""

    phone: str
    secret: str

    def code(self, services: Any) -> str:
        import datetime as dt

        import pyotp

        return pyotp.TOTP(self.secret).at(services.clock.now().replace(tzinfo=dt.UTC))


async def staff_bearer(client: Any, services: Any, n: int, role: str) -> StaffHeaders:
    """A bearer header of an operator or administrator signed in with two factors, as the staff API
    requires: the account (``dostup admin create-user``), TOTP enrolled through the API, then a sign-in
    with the password and the app's code.  Needs the frozen ``clock`` (the code's step moves on)."""
    import datetime as dt

    import pyotp

    from dostup.admin.users import create_user
    from tests.flows.helpers import phone_e164

    def code() -> str:
        return pyotp.TOTP(secret).at(services.clock.now().replace(tzinfo=dt.UTC))

    phone = phone_e164(n)
    await create_user(services.settings, phone=phone, password=PASSWORD, login=None, email=None, country="RU",
                      role=role, now=services.clock.now())
    first = await client.post("/api/v1/login", json={"method": "phone", "phone": phone, "password": PASSWORD})
    auth = {"Authorization": f"Bearer {first.json()['session']['token']}"}
    started = (await client.post("/api/v1/settings/totp", headers=auth)).json()
    secret = started["secret"]
    confirmed = await client.post("/api/v1/settings/totp/confirm", headers=auth,
                                  json={"flow_id": started["flow_id"], "code": code()})
    assert confirmed.status_code == 200, confirmed.text
    services.clock.advance(seconds=30)  # the enrolment's code is spent in its step
    pending = (await client.post("/api/v1/login", json={"method": "phone", "phone": phone, "password": PASSWORD})).json()
    done = await client.post(f"/api/v1/login/{pending['second_factor']['flow_id']}/second-factor",
                             json={"method": "totp", "code": code()})
    assert done.status_code == 200, done.text
    headers = StaffHeaders(Authorization=f"Bearer {done.json()['session']['token']}")
    headers.phone, headers.secret = phone, secret
    return headers


async def staff_browser(client: Any, services: Any, staff: StaffHeaders) -> Any:
    """The same staff member signed in to the cabinet pages with both factors (a cookie session)."""
    import re

    from tests.support import UiSurface

    browser = UiSurface(client)
    first = await browser.login(method="phone", phone=staff.phone, password=PASSWORD)
    flow = re.search(r"flow=([A-Za-z0-9_-]+)", first.data["location"])
    assert first.ok and flow, first
    services.clock.advance(seconds=30)  # the bearer's sign-in spent this step's code
    done = await browser.post_form("/login/second-factor", {"flow": flow.group(1), "code": staff.code(services),
                                                            "method": "totp"})
    assert done.status_code in (302, 303) and "dostup_session" in browser.client.cookies, done.text
    return browser
