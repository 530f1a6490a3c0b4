"""The settings verbs for both surfaces (pages and JSON API), so each test states one behaviour once."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import select

from dostup.persistence.models import Account, OutboxMessage, SecurityEvent
from tests import factories
from tests.factories import make_user  # noqa: F401 - the settings tests import it from here
from tests.flows.helpers import PASSWORD
from tests.support import ApiSurface, Result, Surface, UiSurface, _api_result

_ERROR_PAGE = re.compile(r'<p role="alert">([^<]*)</p>')


async def signed_in(surface: Surface, services: Any, n: int, **kw: Any) -> SettingsClient:
    return SettingsClient(await factories.signed_in(surface, services, n, **kw))


async def account(services: Any, phone: str | None = None, *, account_id: str | None = None) -> Account:
    async with services.db.read() as s:
        stmt = select(Account).where(Account.id == account_id) if account_id else select(Account).where(Account.phone == phone)
        return (await s.execute(stmt)).scalar_one()


async def messages(services: Any, to: str, kind: str | None = None) -> list[OutboxMessage]:
    async with services.db.read() as s:
        stmt = select(OutboxMessage).where(OutboxMessage.to == to).order_by(OutboxMessage.created_at)
        if kind:
            stmt = stmt.where(OutboxMessage.kind == kind)
        return list((await s.execute(stmt)).scalars())


async def events(services: Any, account_id: str, kind: str | None = None) -> list[SecurityEvent]:
    async with services.db.read() as s:
        stmt = select(SecurityEvent).where(SecurityEvent.account_id == account_id)
        if kind:
            stmt = stmt.where(SecurityEvent.kind == kind)
        return list((await s.execute(stmt)).scalars())


def shown(r: Result) -> str:
    """The message a user sees: API ``error.message``, a form's field/alert, or an error page."""
    if r.message:
        return html.unescape(r.message)
    page = _ERROR_PAGE.search(str(r.data.get("html", "")))
    return html.unescape(page.group(1)) if page else ""


class SettingsClient:
    """The settings verbs over one surface; results look the same for both."""

    def __init__(self, surface: Surface) -> None:
        self.s = surface

    @property
    def ui(self) -> bool:
        return isinstance(self.s, UiSurface)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.s.token}"} if self.s.token else {}

    async def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Result:
        resp = await self.s.client.request(method, "/api/v1/settings" + path, json=body, headers=self._headers())
        return _api_result(resp)

    async def form(self, path: str, data: dict[str, Any]) -> Result:
        assert isinstance(self.s, UiSurface)
        r = self.s._result(await self.s.post_form(path, data, "/cabinet"))
        if r.ok and r.data["location"].startswith("/reauth"):
            return Result(403, False, code="reauth_required", data=r.data, headers=r.headers)
        return r

    async def page(self, path: str) -> Any:
        """A page, with the API surface's bearer token when it has one (pages accept both)."""
        return await self.s.client.get(path, headers={} if self.ui else self._headers())

    # -- verbs --------------------------------------------------------------------------------

    async def profile(self, **names: Any) -> Result:
        if self.ui:
            return await self.form("/settings", names)
        return await self.api("PUT", "/profile", names)

    async def set_login(self, login: Any) -> Result:
        if self.ui:
            return await self.form("/settings/login", {"login": login})
        return await self.api("PUT", "/login", {"login": login})

    async def start(self, contact: str, value: Any, country: str = "RU") -> Result:
        """Ask for a new phone or email; ``data["flow_id"]`` names the change on success."""
        if self.ui:
            body = {contact: value, "country": country} if contact == "phone" else {contact: value}
            r = await self.form(f"/settings/contacts/{contact}", body)
            if r.ok:
                r.data["flow_id"] = r.data["location"].split("flow=")[1].split("&")[0]
            return r
        body = {"phone": value, "country": country} if contact == "phone" else {"email": value}
        return await self.api("POST", f"/contacts/{contact}", body)

    async def confirm(self, flow_id: str, code: str) -> Result:
        if self.ui:
            return await self.form("/settings/contacts/confirm", {"flow": flow_id, "code": code})
        return await self.api("POST", f"/contacts/flows/{flow_id}/code", {"code": code})

    async def resend(self, flow_id: str) -> Result:
        if self.ui:
            return await self.form("/settings/contacts/resend", {"flow": flow_id})
        return await self.api("POST", f"/contacts/flows/{flow_id}/resend")

    async def flow(self, flow_id: str) -> Result:
        if self.ui:
            resp = await self.page(f"/settings/contacts/confirm?flow={flow_id}")
            return Result(resp.status_code, resp.status_code == 200, data={"html": resp.text})
        return await self.api("GET", f"/contacts/flows/{flow_id}")

    async def remove(self, contact: str) -> Result:
        if self.ui:
            return await self.form(f"/settings/contacts/{contact}/remove", {})
        return await self.api("DELETE", f"/contacts/{contact}")

    async def notifications(self, choices: dict[str, dict[str, bool]], consent: bool) -> Result:
        """Save the whole form: every optional kind's channels and the marketing consent."""
        if self.ui:
            data: dict[str, Any] = {f"{k}_{c}": v for k, chans in choices.items() for c, v in chans.items()}
            data["marketing_consent"] = consent
            return await self.form("/settings/notifications", data)
        return await self.api("PUT", "/notifications", {"preferences": choices, "marketing_consent": consent})

    async def reauth(self, password: str = PASSWORD) -> Result:
        if self.ui:
            return await self.form("/reauth", {"password": password, "return_to": "/settings/contacts"})
        r = _api_result(await self.s.client.post("/api/v1/reauth", json={"password": password},
                                                 headers=self._headers()))
        if r.ok:
            self.s.token = r.data["token"]
        return r

    async def notification_state(self) -> dict[str, Any]:
        """The preferences as the API reports them (read with this surface's session)."""
        if self.ui:
            resp = await self.s.client.get("/api/v1/settings/notifications")
        else:
            resp = await self.s.client.get("/api/v1/settings/notifications", headers=self._headers())
        assert resp.status_code == 200, resp.text
        return dict(resp.json())


def enabled(state: dict[str, Any], kind: str, channel: str) -> bool:
    return bool(next(i for i in state["items"] if i["kind"] == kind and i["channel"] == channel)["enabled"])


__all__ = ["ApiSurface", "SettingsClient", "UiSurface", "account", "enabled", "events", "make_user", "messages",
           "shown", "signed_in"]
