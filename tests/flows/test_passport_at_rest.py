"""The passport at rest (SECURITY.md: passport data never readable without the instance key), on both backends:
a check still waiting keeps its copy of the person with the passport sealed, and every reader opens it — the
operators' queue, the answer's digest (the registry adapter: ``test_verification_registry.py``); a check written
in clear before still reads right; housekeeping seals the profiles and the waiting checks written in clear
before, once, in batches, on several workers at once and in the ``dostup worker`` process."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import Text, cast, insert, select, update

from dostup.core.crypto import Keyring
from dostup.core.passport import FIELDS
from dostup.courier.build import courier_process, housekeeping
from dostup.identity.person import parse_person
from dostup.persistence import reseal
from dostup.persistence.models import Account
from dostup.persistence.models_levels import IdentityProfile, VerificationRequest
from dostup.selfservice.verification.passport import PassportSeal
from dostup.selfservice.verification.service import checked_digest
from tests.factories import make_account, sign_in
from tests.flows.levels_support import GOSUSLUGI, PERSON, bearer, rows, submit
from tests.flows.test_operator_pages import _console, _post
from tests.flows.test_operator_search import REASON, _staff
from tests.support import ApiSurface

QUEUE = "/api/v1/admin/verifications"
CLEAR = ("4508", "123456", "770-001", "ОВД района Арбат")  # what no stored passport may show
LEVELS_ON = pytest.mark.parametrize("settings_overrides", [GOSUSLUGI])


def _snapshot(**changes: str) -> dict[str, object]:
    """A person as a check keeps it (``PersonData.snapshot``), in clear: what the customer typed."""
    return parse_person({**PERSON, **changes}, dt.date(2026, 12, 4)).snapshot()


def _seal(services: Any) -> PassportSeal:
    return PassportSeal(Keyring(services.settings.secret_key))


async def _raw(services: Any) -> dict[str, str]:
    """Every request's ``data`` as the database holds it (the JSON's text), by id."""
    r = VerificationRequest
    async with services.db.read() as s:
        return {row.id: row.text for row in await s.execute(select(r.id, cast(r.data, Text).label("text")))}


async def _pending(staff: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await staff.post(f"{QUEUE}/pending", json={"reason": REASON}, headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _in_clear(services: Any, account_id: str, rid: str, person: dict[str, object], *, state: str = "submitted",
                    when: dt.datetime | None = None) -> None:
    """A check as it was written before its passport was sealed."""
    now = when or services.clock.now()
    async with services.db.write() as s:
        await s.execute(insert(VerificationRequest).values(
            id=rid, account_id=account_id, level=2, state=state, verifier="operator", data=person, created_at=now,
            updated_at=now))
        account = await s.get(Account, account_id)
        assert account is not None
        account.family_name, account.given_name = str(person["family_name"]), str(person["given_name"])


async def _profile_in_clear(services: Any, account_id: str, person: dict[str, object]) -> None:
    """A profile as it was saved before migration 0051: the passport in the old columns."""
    async with services.db.write() as s:
        await s.execute(insert(IdentityProfile).values(
            account_id=account_id, level=1, no_middle_name=False, birth_place=person["birth_place"],
            birth_date=dt.date.fromisoformat(str(person["birth_date"])), passport=None,
            passport_issued_on=dt.date.fromisoformat(str(person["passport_issued_on"])), updated_at=services.clock.now(),
            **{name: person[name] for name in FIELDS if name != "passport_issued_on"}))


@LEVELS_ON
async def test_a_waiting_check_keeps_the_passport_sealed_and_the_operator_sees_it_whole(client_factory, services,
                                                                                         surface):
    made = await make_account(services, 701)
    await sign_in(surface, made.phone)
    assert (await submit(surface, **PERSON)).ok
    _, [waiting] = await rows(services, made.id)
    raw = (await _raw(services))[waiting.id]
    assert not [c for c in CLEAR if c in raw], raw
    assert set(waiting.data) == set(_snapshot()) - set(FIELDS) | {"passport"}  # the rest of the person as it was
    assert waiting.data["birth_place"] == PERSON["birth_place"] and waiting.data["snils"] == PERSON["snils"]
    assert _seal(services).check.open_within(waiting.data) == _snapshot()
    with pytest.raises(InvalidTag):  # sealed for the check, it does not open as a profile's: each its own key
        _seal(services).read(IdentityProfile(passport=str(waiting.data["passport"])))

    staff = client_factory()
    headers = await _staff(staff, services, 790, "operator")
    [item] = await _pending(staff, headers)
    assert item["data"] == _snapshot()
    console = await _console(client_factory, services, 791)  # the same queue in «Консоль оператора»
    page = (await _post(console, "/operator/verifications", {"reason": REASON})).text
    assert all(PERSON[name] in page for name in ("passport_series", "passport_number", "passport_division_code"))

    r = await staff.post(f"{QUEUE}/{waiting.id}/approve", json={"reason": REASON}, headers=headers)
    assert r.status_code == 204, r.text
    profile, [answered] = await rows(services, made.id)
    digest = checked_digest(Keyring(services.settings.secret_key), _snapshot())  # of the person, not of the seal
    assert profile is not None and answered.data == profile.checked == digest


@LEVELS_ON
async def test_a_check_written_in_clear_before_is_listed_and_answered_as_a_sealed_one(client_factory, services):
    older, newer = (await make_account(services, 702)).id, (await make_account(services, 703)).id
    before = services.clock.now() - dt.timedelta(hours=2)
    await _in_clear(services, older, "clear-check", _snapshot(passport_number="654321"), when=before)
    api = ApiSurface(client_factory())
    await sign_in(api, (await _phone(services, newer)))
    assert (await submit(api, **PERSON)).ok
    staff = client_factory()
    headers = await _staff(staff, services, 792, "operator")
    listed = await _pending(staff, headers)
    assert [(i["account_id"], i["data"]) for i in listed] == [
        (older, _snapshot(passport_number="654321")), (newer, _snapshot())]
    for item in listed:
        r = await staff.post(f"{QUEUE}/{item['id']}/approve", json={"reason": REASON}, headers=headers)
        assert r.status_code == 204, r.text
    keyring = Keyring(services.settings.secret_key)
    for account_id, person in ((older, _snapshot(passport_number="654321")), (newer, _snapshot())):
        profile, [answered] = await rows(services, account_id)
        assert answered.data == {"digest": checked_digest(keyring, person)["digest"]}
        assert profile is not None and profile.level == 2 and profile.checked == answered.data


async def _phone(services: Any, account_id: str) -> str:
    async with services.db.read() as s:
        account = await s.get(Account, account_id)
    assert account is not None and account.phone
    return account.phone


# -- housekeeping: what was written in clear before is sealed, once ------------------------------------------------

SMALL_BATCHES = pytest.mark.parametrize("settings_overrides", [{
    **GOSUSLUGI, "DOSTUP_HOUSEKEEPING__BATCH_SIZE": "10", "DOSTUP_HOUSEKEEPING__PAUSE_SECONDS": "0"}])


async def _written_in_clear(services: Any, first: int, count: int, *, checks: int) -> dict[str, dict[str, object]]:
    """``count`` customers whose profiles were saved before 0051, the first ``checks`` of them with a check waiting
    in clear; each person (a passport number of their own) by account id."""
    people = {}
    for n in range(count):
        account_id = (await make_account(services, first + n)).id
        people[account_id] = _snapshot(passport_number=f"{first * 1000 + n}")
        await _profile_in_clear(services, account_id, people[account_id])
        if n < checks:
            await _in_clear(services, account_id, f"clear-{n}", people[account_id])
    return people


@SMALL_BATCHES
async def test_housekeeping_seals_profiles_and_waiting_checks_written_in_clear_and_only_once(services):
    people = await _written_in_clear(services, 710, 12, checks=11)
    sealed_one = next(iter(people))
    keyring = Keyring(services.settings.secret_key)
    await _others(services, sealed_one, keyring)
    untouched = {rid: text for rid, text in (await _raw(services)).items() if not rid.startswith("clear-")}

    counts = await services.housekeeping.purge()
    assert (counts["identity_profiles_sealed"], counts["verification_requests_sealed"]) == (12, 11)
    raw = await _raw(services)
    numbers = [str(person["passport_number"]) for person in people.values()]
    assert not [(rid, text) for rid, text in raw.items() for c in [*numbers, "ОВД района Арбат"] if c in text]
    assert {rid: raw[rid] for rid in untouched} == untouched  # answered, cancelled, letters, sealed ones: as they were
    seal = _seal(services)
    for account_id, person in people.items():
        profile, reqs = await rows(services, account_id)
        assert profile is not None and profile.passport and all(getattr(profile, f) is None for f in FIELDS)
        assert seal.read(profile) == {f: person[f] for f in FIELDS}
        for req in (r for r in reqs if r.id.startswith("clear-")):
            assert req.state == "submitted" and seal.check.open_within(req.data) == person

    again = await services.housekeeping.purge()
    assert (again["identity_profiles_sealed"], again["verification_requests_sealed"]) == (0, 0)
    assert await _raw(services) == raw  # nothing sealed twice


async def _others(services: Any, account_id: str, keyring: Keyring) -> None:
    """Rows the pass leaves alone: answered and cancelled checks, a letter, a check sealed already, a bank's record."""
    now = services.clock.now()
    rows_ = [("answered", "approved", 2, "operator", checked_digest(keyring, _snapshot())),
             ("cancelled", "cancelled", 2, "operator", {}),
             ("letter", "submitted", 3, "letter", {"address": {"postcode": "101000"}, "code_hash": "h", "tries": 0}),
             ("sealed", "submitted", 2, "registry", _seal(services).check.seal_within(_snapshot())),
             ("bank", "approved", 3, "bank", {"provider": "bank", "subject": "s", "verified_claims": True})]
    async with services.db.write() as s:
        await s.execute(insert(VerificationRequest), [
            {"id": rid, "account_id": account_id, "level": level, "state": state, "verifier": verifier, "data": data,
             "created_at": now, "updated_at": now} for rid, state, level, verifier, data in rows_])


@SMALL_BATCHES
async def test_workers_sealing_at_once_seal_each_row_once(services):
    people = await _written_in_clear(services, 730, 25, checks=25)
    keyring = Keyring(services.settings.secret_key)
    others = [housekeeping(services.settings.housekeeping, services.db, services.clock, keyring) for _ in range(3)]
    results = await asyncio.gather(services.housekeeping.purge(), *(h.purge() for h in others))
    assert sum(r["identity_profiles_sealed"] for r in results) == 25
    assert sum(r["verification_requests_sealed"] for r in results) == 25
    seal = _seal(services)
    for account_id, person in people.items():
        profile, [req] = await rows(services, account_id)
        assert profile is not None and seal.read(profile) == {f: person[f] for f in FIELDS}
        assert seal.check.open_within(req.data) == person


@LEVELS_ON
async def test_the_worker_process_seals_too_and_the_customer_reads_the_same_passport(services, surface):
    """``dostup worker`` (``courier_process``) has the instance key: its housekeeping seals; the customer's form and
    the level's compare read the sealed profile as they read the old columns."""
    made = await make_account(services, 750)
    await sign_in(surface, made.phone)
    person = _snapshot()
    await _profile_in_clear(services, made.id, person)
    async with services.db.write() as s:
        await s.execute(update(Account).where(Account.id == made.id).values(
            family_name=PERSON["family_name"], given_name=PERSON["given_name"], middle_name=PERSON["middle_name"],
            snils=PERSON["snils"]))
        await s.execute(update(IdentityProfile).where(IdentityProfile.account_id == made.id).values(
            gender=PERSON["gender"], citizenship=PERSON["citizenship"]))
    process = courier_process(services.settings)
    try:
        counts = await process.housekeeping.purge()
    finally:
        await process.db.dispose()
    assert counts["identity_profiles_sealed"] == 1
    profile, _ = await rows(services, made.id)
    assert profile is not None and profile.passport and profile.passport_number is None
    shown = await surface.client.get("/api/v1/account/identity", headers=bearer(surface)) \
        if isinstance(surface, ApiSurface) else await surface.client.get("/settings/identity")
    assert PERSON["passport_number"] in shown.text and PERSON["passport_issuer"] in shown.text
    again = await submit(surface, **PERSON)  # the same data: nothing changed, so it is sent for the check
    assert again.ok
    _, [waiting] = await rows(services, made.id)
    assert _seal(services).check.open_within(waiting.data) == person


def test_housekeeping_names_the_fields_the_seal_names():
    """Persistence imports nothing of ``dostup.core``, so the pass spells the five fields again."""
    assert reseal.FIELDS == FIELDS
