"""Shared by the level-of-assurance tests: a valid full profile, submitting it on either surface, the rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from dostup.identity.documents import snils_checksum
from dostup.persistence.models_levels import IdentityProfile, VerificationRequest
from tests.support import ApiSurface, Result, Surface, UiSurface, _api_result

GOSUSLUGI = {"DOSTUP_PRESET": "gosuslugi"}
SNILS = "112233445" + snils_checksum("112233445")
PERSON = {"family_name": "Петрова", "given_name": "Анна", "middle_name": "Сергеевна", "gender": "female",
          "birth_date": "1990-05-17", "birth_place": "гор. Тверь", "citizenship": "RU", "passport_series": "4508",
          "passport_number": "123456", "passport_issued_on": "2010-06-17", "passport_division_code": "770-001",
          "passport_issuer": "ОВД района Арбат гор. Москвы", "snils": SNILS}
PAGE = "/settings/identity"


def bearer(surface: Surface) -> dict[str, str]:
    return {"Authorization": f"Bearer {surface.token}"} if isinstance(surface, ApiSurface) else {}


async def submit(surface: Surface, **fields: Any) -> Result:
    """The profile form posted (ui) or ``PUT /api/v1/account/identity`` (api)."""
    if isinstance(surface, UiSurface):
        return surface._result(await surface.post_form(PAGE, fields, PAGE))
    return _api_result(await surface.client.put("/api/v1/account/identity", json=fields, headers=bearer(surface)))


async def status(surface: Surface) -> dict[str, Any]:
    resp = await surface.client.get("/api/v1/account/status", headers=bearer(surface))
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def rows(services: Any, account_id: str) -> tuple[IdentityProfile | None, list[VerificationRequest]]:
    async with services.db.read() as s:
        profile = await s.get(IdentityProfile, account_id)
        reqs = list((await s.execute(select(VerificationRequest).where(VerificationRequest.account_id == account_id)
                                     .order_by(VerificationRequest.created_at))).scalars())
    return profile, reqs


async def count_requests(services: Any) -> int:
    async with services.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(VerificationRequest))).scalar_one())
