"""«Вход в личный кабинет»: a message at every completed sign-in, for a customer who asked for it in
«Настройка уведомлений» (kind ``signin``, off by default) — by password, after a second step, by passkey.

Both surfaces, both backends.  The message is written with the session, so it exists exactly when the
sign-in happened: none for a refused password, none before the second step has passed.
"""

from __future__ import annotations

from typing import Any

from dostup.accounts.preferences import save_choices
from tests.flows.helpers import PASSWORD
from tests.flows.passkey_support import Authenticator
from tests.flows.settings_support import account, enabled, events, make_user, messages, signed_in
from tests.flows.test_passkeys import Passkeys
from tests.flows.test_second_factor import TwoStep
from tests.support import Surface


async def _asked(services: Any, account_id: str, **channels: bool) -> None:
    """The customer's choice for sign-in messages, as «Настройка уведомлений» stores it."""
    async with services.db.write() as s:
        await save_choices(s, account_id, {("signin", c): on for c, on in channels.items()}, services.clock.now())


async def _signed_out(surface: Surface) -> None:
    await surface.logout()
    surface.token = None
    surface.client.cookies.clear()


async def test_no_sign_in_message_unless_the_customer_asks(surface, services):
    me = await signed_in(surface, services, 700, email="quiet@example.com")
    state = await me.notification_state()
    assert not enabled(state, "signin", "sms") and not enabled(state, "signin", "email")
    assert not any(i["mandatory"] for i in state["items"] if i["kind"] == "signin")
    if me.ui:
        page = (await me.page("/settings/notifications")).text
        assert "Вход в личный кабинет: сообщение о каждом входе" in page
        assert 'name="signin_email"' in page and 'name="signin_email" aria-label="Вход в личный кабинет' in page
    await _signed_out(surface)
    assert (await surface.login(method="phone", phone="+79120000700", password=PASSWORD)).ok
    assert await messages(services, "quiet@example.com", "signin") == []
    assert await messages(services, "+79120000700", "signin") == []


async def test_a_customer_who_asked_hears_of_each_sign_in_and_of_nothing_else(surface, services):
    me = await signed_in(surface, services, 701, email="told@example.com")
    r = await me.notifications({"signin": {"sms": False, "email": True}, "service": {"sms": True, "email": True}},
                               consent=False)
    assert r.ok, (r.status, r.field, r.message)
    assert enabled(await me.notification_state(), "signin", "email")
    await _signed_out(surface)

    refused = await surface.login(method="phone", phone="+79120000701", password=PASSWORD + "x")
    assert not refused.ok
    assert await messages(services, "told@example.com", "signin") == []  # a refused password: no sign-in to tell

    assert (await surface.login(method="phone", phone="+79120000701", password=PASSWORD)).ok
    sent = await messages(services, "told@example.com", "signin")
    assert len(sent) == 1 and sent[0].channel == "email" and sent[0].status in ("pending", "sent")
    body = sent[0].body
    acc = await account(services, "+79120000701")
    ip = [e for e in await events(services, acc.id, "login") if e.outcome == "success"][-1].ip
    assert sent[0].subject == f"Вход в личный кабинет — {services.preset.product_name}"
    assert f"IP-адрес: {ip}\n" in body and "(MSK)" in body and "/settings/password" in body
    assert PASSWORD not in body and "dostup_session" not in body
    assert await messages(services, "+79120000701", "signin") == []  # SMS not ticked

    # SMS ticked too: the notice goes by SMS, the first of the two (as every optional notice).
    await _asked(services, acc.id, sms=True)
    await _signed_out(surface)
    assert (await surface.login(method="phone", phone="+79120000701", password=PASSWORD)).ok
    sms = await messages(services, "+79120000701", "signin")
    assert len(sms) == 1 and sms[0].body.startswith(f"{services.preset.product_name}: выполнен вход")
    assert len(await messages(services, "told@example.com", "signin")) == 1


async def test_with_a_second_factor_the_message_comes_when_the_second_step_passes(surface, services):
    phone = await make_user(services, 702)
    me = TwoStep(surface)
    assert (await me.login(phone)).ok
    made = await me.new_codes()
    assert made.ok, made
    codes = made.data["codes"]
    await _asked(services, (await account(services, phone)).id, sms=True)
    await _signed_out(surface)

    first = await me.login(phone)
    assert first.ok and first.data["flow_id"]
    assert await messages(services, phone, "signin") == []  # no session yet, nothing to tell
    wrong = await me.second(first.data["flow_id"], "0000-0000")
    assert not wrong.ok
    assert await messages(services, phone, "signin") == []
    assert (await me.second(first.data["flow_id"], codes[0])).ok
    assert len(await messages(services, phone, "signin")) == 1


async def test_a_passkey_sign_in_is_told_too(surface, services):
    phone = await make_user(services, 703, email="key@example.com")
    assert (await surface.login(method="phone", phone=phone, password=PASSWORD)).ok
    keys, auth = Passkeys(surface), Authenticator()
    assert (await keys.add(auth, name="Телефон")).ok
    await _asked(services, (await account(services, phone)).id, sms=False, email=True)
    await keys.sign_out()

    r = await keys.sign_in(auth)
    assert r.ok, r
    sent = await messages(services, "key@example.com", "signin")
    assert len(sent) == 1 and "Браузер:" in sent[0].body
