"""The contract verbs for both surfaces (pages and JSON API) and a seeded registry."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import func, select

from dostup.admin.contracts import ContractImporter, RowIn
from dostup.persistence.models import Flow, OneTimeCode, OutboxMessage
from dostup.persistence.models_contracts import ContractLink
from tests import factories
from tests.flows.settings_support import shown
from tests.support import Result, Surface, UiSurface, _api_result

CONTRACT = "100200300400"
OWNER = "+79161234567"
CARD = "4276380012345679"  # Luhn-valid
CARD_GROUPED = "4276 3800 1234 5679"
CARD_MASKED = "4276 **** **** 5679"
OTHER_CARD = "2202200012345672"
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
_ROW = re.compile(r'<tr class="contract" data-kind="([a-z]+)" data-id="([0-9a-f]+)">\s*<td class="number"[^>]*>([^<]*)</td>')


async def seed(services: Any, *rows: dict[str, str]) -> None:
    """Fill the registry the way the CLI and the admin API do."""
    importer = ContractImporter(services.db, services.keyring)
    report = await importer.import_rows([RowIn(line=i, **r) for i, r in enumerate(rows, 2)], now=services.clock.now())
    assert not report.errors, report.errors


async def seed_default(services: Any) -> None:
    await seed(
        services,
        {"number": CONTRACT, "kind": "contract", "phone": OWNER, "secret": "1 520,40"},
        {"number": CARD_GROUPED, "kind": "card", "phone": OWNER, "secret": "4321"},
        {"number": "555000111", "kind": "contract", "phone": OWNER, "secret": ""},  # phone only
        {"number": "777000222", "kind": "contract", "phone": "", "secret": "9999"},  # secret only
    )


class Contracts:
    """The contract verbs over one surface; results look the same for both."""

    def __init__(self, surface: Surface) -> None:
        self.s = surface

    @property
    def ui(self) -> bool:
        return isinstance(self.s, UiSurface)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.s.token}"} if self.s.token and not self.ui else {}

    async def form(self, path: str, data: dict[str, Any]) -> Result:
        assert isinstance(self.s, UiSurface)
        return self.s._result(await self.s.post_form(path, data, "/contracts/link"))

    async def api(self, method: str, path: str, body: Any = None) -> Result:
        resp = await self.s.client.request(method, "/api/v1/contracts" + path, json=body, headers=self._headers())
        return _api_result(resp)

    async def link(self, kind: Any, number: Any, method: Any = "sms", secret: Any = None) -> Result:
        """``data["flow_id"]`` for a code sent, ``data["linked"]`` when linked at once."""
        if self.ui:
            r = await self.form("/contracts/link", {"kind": kind, "number": number, "method": method, "secret": secret})
            if r.ok:
                loc = r.data["location"]
                if "flow=" in loc:
                    r.data["flow_id"] = loc.split("flow=")[1].split("&")[0]
                else:
                    r.data["linked"] = loc == "/contracts?done=linked"
            return r
        r = await self.api("POST", "", {"kind": kind, "number": number, "method": method, "secret": secret})
        if r.ok:
            if r.data["state"] == "code_sent":
                r.data["flow_id"] = r.data["flow"]["flow_id"]
            else:
                r.data["linked"] = True
        return r

    async def confirm(self, flow_id: str, code: Any) -> Result:
        if self.ui:
            return await self.form("/contracts/confirm", {"flow": flow_id, "code": code})
        return await self.api("POST", f"/link/{flow_id}/confirm", {"code": code})

    async def resend(self, flow_id: str) -> Result:
        if self.ui:
            return await self.form("/contracts/resend", {"flow": flow_id})
        return await self.api("POST", f"/link/{flow_id}/resend")

    async def unlink(self, link_id: str) -> Result:
        if self.ui:
            return await self.form(f"/contracts/{link_id}/unlink", {})
        return await self.api("DELETE", f"/{link_id}")

    async def items(self) -> list[dict[str, str]]:
        """What the list shows: kind, id and number of each linked contract."""
        if self.ui:
            resp = await self.s.client.get("/contracts")
            assert resp.status_code == 200, resp.text
            return [{"kind": k, "id": i, "number": html.unescape(n)} for k, i, n in _ROW.findall(resp.text)]
        r = await self.api("GET", "")
        assert r.ok, r
        return [{"kind": c["kind"], "id": c["id"], "number": c["number"]} for c in r.data["items"]]


async def signed_in(surface: Surface, services: Any, n: int) -> Contracts:
    return Contracts(await factories.signed_in(surface, services, n))


async def counts(services: Any) -> dict[str, int]:
    models = {"links": ContractLink, "flows": Flow, "codes": OneTimeCode, "outbox": OutboxMessage}
    async with services.db.read() as s:
        return {k: (await s.execute(select(func.count()).select_from(m))).scalar_one() for k, m in models.items()}


async def links(services: Any) -> list[ContractLink]:
    async with services.db.read() as s:
        return list((await s.execute(select(ContractLink))).scalars())


async def link_messages(services: Any) -> list[OutboxMessage]:
    async with services.db.read() as s:
        return list((await s.execute(
            select(OutboxMessage).where(OutboxMessage.kind == "contract_link_code").order_by(OutboxMessage.created_at)
        )).scalars())


def ok(r: Result) -> Result:
    assert r.ok, (r.status, r.code, r.field, r.message)
    return r


def answer(r: Result) -> tuple[int, str | None, str | None, str]:
    """What a user can tell apart: status, error code (API), field and message."""
    return r.status, r.code, r.field, shown(r)
