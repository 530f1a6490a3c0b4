"""Linked service contracts (SPEC §4.7; the Rostelecom and Sberbank seeds), pages and API, both backends.

«Лицевой счет уже привязан в другом ЛК» → «Надо восстановить доступ к ранее созданному ЕЛК…»: a
contract links to one cabinet, the conflict is told (with the way out) only after the proof of
ownership succeeded, and neither an unknown number nor a wrong secret tells whether it exists.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dostup.accounts.contracts import number_key
from dostup.cli import app as cli_app
from dostup.guards.limits import Rule
from dostup.persistence.models import Flow, OneTimeCode, OutboxMessage, SecurityEvent
from dostup.persistence.models_contracts import ContractLink, RegistryContract
from tests.factories import StaffHeaders, staff_bearer, staff_browser
from tests.flows.contracts_support import (
    CARD,
    CARD_GROUPED,
    CARD_MASKED,
    CONTRACT,
    CYRILLIC,
    OTHER_CARD,
    OWNER,
    answer,
    counts,
    link_messages,
    links,
    ok,
    seed,
    seed_default,
    signed_in,
)
from tests.flows.helpers import PASSWORD, phone_e164
from tests.flows.settings_support import account, events, make_user, shown
from tests.support import TEST_SECRET, ApiSurface, last_code

# -- linking ---------------------------------------------------------------------------------

async def test_link_by_sms_code_sent_to_the_phone_on_file(surface, services):
    await seed_default(services)
    me = await signed_in(surface, services, 300)
    r = ok(await me.link("contract", "1002 0030 0400"))
    assert "flow_id" in r.data
    msgs = await link_messages(services)
    assert len(msgs) == 1 and msgs[0].to == OWNER and msgs[0].channel == "sms"
    assert msgs[0].account_id is None  # not in the linking account's notification history
    assert "****0400" in msgs[0].body and msgs[0].code in msgs[0].body
    assert await me.items() == []  # nothing linked before the code
    ok(await me.confirm(r.data["flow_id"], await last_code(surface.client, OWNER, "contract_link_code")))
    items = await me.items()
    assert [(i["kind"], i["number"]) for i in items] == [("contract", CONTRACT)]
    acc = await account(services, phone_e164(300))
    evs = await events(services, acc.id, "contract_linked")
    assert [(e.outcome, e.detail) for e in evs] == [("success", {"identifier": "****0400", "method": "sms"})]


async def test_link_by_secret_links_at_once_and_accepts_the_amount_as_the_bill_shows_it(surface, services):
    await seed_default(services)
    me = await signed_in(surface, services, 301)
    r = ok(await me.link("contract", CONTRACT, "secret", "1520.4"))
    assert r.data["linked"] is True
    assert [i["number"] for i in await me.items()] == [CONTRACT]
    assert await link_messages(services) == []  # no SMS for the secret proof


async def test_wrong_secret_unknown_number_and_no_secret_on_file_answer_alike(surface, services):
    await seed_default(services)
    me = await signed_in(surface, services, 302)
    before = await counts(services)
    wrong = await me.link("contract", CONTRACT, "secret", "1520.41")
    unknown = await me.link("contract", "999888777666", "secret", "1520.40")
    phone_only = await me.link("contract", "555000111", "secret", "1520.40")
    unknown_card = await me.link("card", OTHER_CARD, "secret", "4321")
    assert wrong.status == 422 and not wrong.ok
    assert answer(wrong) == answer(unknown) == answer(phone_only) == answer(unknown_card), (
        answer(wrong), answer(unknown), answer(phone_only), answer(unknown_card))
    assert CYRILLIC.search(shown(wrong))
    assert "не найден или ПИН-код" in shown(wrong)
    after = await counts(services)
    assert after == before  # no link, flow, code or message
    assert await me.items() == []


async def test_unknown_number_by_sms_gets_the_neutral_answer_and_a_decoy_that_no_code_completes(surface, services):
    await seed_default(services)
    me = await signed_in(surface, services, 303)
    real = ok(await me.link("contract", CONTRACT))
    decoy = ok(await me.link("contract", "999888777666"))
    secret_only = ok(await me.link("contract", "777000222"))  # no phone on file: a decoy as well
    assert len(await link_messages(services)) == 1  # the real one only
    if not me.ui:
        for r in (real, decoy, secret_only):
            flow = r.data["flow"]
            assert r.data["state"] == "code_sent" and flow["message"].startswith("Если договор найден")
            assert set(flow) == set(real.data["flow"])
            assert flow["resend_after_seconds"] == real.data["flow"]["resend_after_seconds"]
    else:
        pages = [await me.s.client.get(f"/contracts/confirm?flow={r.data['flow_id']}") for r in (real, decoy)]
        for p in pages:
            assert p.status_code == 200
            assert "Если договор найден, код отправлен на телефон, указанный в договоре." in p.text
    right = await last_code(surface.client, OWNER, "contract_link_code")
    # Wrong codes: the decoy counts and ends exactly like a real flow; the real code does nothing there.
    tries = ["000001", "000002", "000003", "000004", right, "000005"]
    seq_decoy = [answer(await me.confirm(decoy.data["flow_id"], c)) for c in tries]
    seq_real = [answer(await me.confirm(real.data["flow_id"], c if c != right else "000009")) for c in tries]
    assert seq_decoy == seq_real, (seq_decoy, seq_real)
    invalid, exhausted = services.catalog.text("code.invalid"), services.catalog.text("code.exhausted")
    assert [a[0] for a in seq_decoy] == [422] * 6
    assert [a[3] for a in seq_decoy] == [invalid] * 5 + [exhausted]
    assert await links(services) == []


async def test_conflict_is_told_only_after_the_proof_with_the_way_to_recover_the_other_cabinet(surface, surface_factory,
                                                                                              services):
    await seed_default(services)
    first = await signed_in(surface, services, 304)
    ok(await first.link("contract", CONTRACT, "secret", "1520.40"))
    other = await signed_in(surface_factory(), services, 305)
    # Without the proof the answer is the one for any unknown number: no oracle.
    wrong = await other.link("contract", CONTRACT, "secret", "0000")
    unknown = await other.link("contract", "999888777666", "secret", "0000")
    assert answer(wrong) == answer(unknown)
    # With the proof: the conflict and the seed's way out.
    r = await other.link("contract", CONTRACT, "secret", "1520,40")
    assert r.status == 409 and not r.ok
    text = shown(r)
    assert "уже привязан в другом личном кабинете" in text and "«Восстановить доступ»" in text
    assert "8 800 234-59-60" in text  # the support phone of the preset
    if other.ui:
        assert 'href="/recovery"' in r.data["html"]
    else:
        assert r.code == "linked_elsewhere"
    # And by SMS: the code is used, the conflict is told, nothing is linked to the second cabinet.
    flow = ok(await other.link("contract", CONTRACT))
    code = await last_code(other.s.client, OWNER, "contract_link_code")
    c = await other.confirm(flow.data["flow_id"], code)
    assert c.status == 409 and "уже привязан в другом личном кабинете" in shown(c)
    again = await other.confirm(flow.data["flow_id"], code)  # the flow is over, the code used
    assert again.status == 409 if not other.ui else again.data.get("location") == "/contracts", answer(again)
    assert await other.items() == []
    owner_links = await links(services)
    assert len(owner_links) == 1
    assert owner_links[0].account_id == (await account(services, phone_e164(304))).id
    acc = await account(services, phone_e164(305))
    outcomes = sorted(e.outcome for e in await events(services, acc.id, "contract_linked"))
    assert outcomes == ["conflict", "conflict", "failure", "failure"]


async def test_linking_a_contract_again_to_the_same_cabinet_says_it_is_already_there(surface, services):
    await seed_default(services)
    me = await signed_in(surface, services, 306)
    ok(await me.link("card", CARD_GROUPED, "secret", "4321"))
    r = await me.link("card", CARD, "secret", "4321")
    assert r.status == 409 and "уже привязана к вашему кабинету" in shown(r)
    assert len(await me.items()) == 1


async def test_unlink_then_another_cabinet_can_link_it(surface, surface_factory, services):
    await seed_default(services)
    first = await signed_in(surface, services, 307)
    ok(await first.link("contract", CONTRACT, "secret", "1520.40"))
    [item] = await first.items()
    r = ok(await first.unlink(item["id"]))
    if first.ui:
        assert r.data["location"] == "/contracts?done=unlinked"
    else:
        assert r.status == 204
    assert await first.items() == []
    acc = await account(services, phone_e164(307))
    [ev] = await events(services, acc.id, "contract_unlinked")
    assert ev.detail == {"identifier": "****0400"}
    assert (await first.unlink(item["id"])).status == 404  # gone
    other = await signed_in(surface_factory(), services, 308)
    ok(await other.link("contract", CONTRACT, "secret", "1520.40"))
    assert [i["number"] for i in await other.items()] == [CONTRACT]


async def test_parallel_linking_of_one_contract_from_two_cabinets_exactly_one_wins(surface, surface_factory, services):
    await seed_default(services)
    racers = [await signed_in(surface, services, 309)] + [await signed_in(surface_factory(), services, 310 + i)
                                                           for i in range(3)]
    results = await asyncio.gather(*(c.link("contract", CONTRACT, "secret", "1520.40") for c in racers))
    assert sorted(r.status for r in results) == sorted([201 if not racers[0].ui else 303] + [409] * 3), [
        answer(r) for r in results]
    assert len(await links(services)) == 1


async def test_another_accounts_link_and_flow_are_not_found(surface, surface_factory, services):
    await seed_default(services)
    owner = await signed_in(surface, services, 314)
    ok(await owner.link("contract", CONTRACT, "secret", "1520.40"))
    [item] = await owner.items()
    flow = ok(await owner.link("card", CARD))
    stranger = await signed_in(surface_factory(), services, 315)
    assert (await stranger.unlink(item["id"])).status == 404
    assert (await stranger.confirm(flow.data["flow_id"], "123456")).status == 404
    assert (await stranger.resend(flow.data["flow_id"])).status == 404
    for bad in ("0" * 32, "x" * 32, "1" * 200, "%00"):
        assert (await stranger.unlink(bad)).status == 404, bad
    assert len(await owner.items()) == 1


async def test_guessing_is_limited_per_account_and_per_ip(surface, surface_factory, services):
    await seed_default(services)
    me = await signed_in(surface, services, 316)
    for i in range(10):
        r = await me.link("contract", f"99900{i:04d}", "secret", "1")
        assert r.status == 422, answer(r)
    r = await me.link("contract", CONTRACT, "secret", "1520.40")  # even the right one now waits
    assert r.status == 429 and int(r.headers["retry-after"]) > 0
    assert "Слишком много попыток" in shown(r)
    # Per IP: other accounts from the same address share it.
    services.contracts.per_ip = Rule("contract-guess-ip", 11, 3600)  # 10 counted so far
    other = await signed_in(surface_factory(), services, 317)
    assert (await other.link("contract", "999", "secret", "1")).status == 422
    assert (await other.link("contract", "998", "secret", "1")).status == 429


async def test_secret_tries_are_limited_per_number_across_cabinets(surface, surface_factory, services):
    await seed_default(services)
    services.contracts.per_number = Rule("contract-secret-number", 3, 3600)
    tries = [await signed_in(surface if i == 0 else surface_factory(), services, 318 + i) for i in range(4)]
    statuses = [(await c.link("contract", CONTRACT, "secret", f"{i}")).status for i, c in enumerate(tries)]
    assert statuses == [422, 422, 422, 429]


async def test_card_numbers_never_appear_whole(surface, services, caplog):
    caplog.set_level(logging.DEBUG)
    await seed_default(services)
    me = await signed_in(surface, services, 322)
    seen: list[str] = []
    r = ok(await me.link("card", CARD_GROUPED))
    seen.append(json.dumps(r.data, ensure_ascii=False, default=str))
    seen.append((await me.s.client.get(f"/contracts/confirm?flow={r.data['flow_id']}", headers=me._headers())).text)
    seen.append(json.dumps((await me.resend(r.data["flow_id"])).data, ensure_ascii=False, default=str))
    wrong = await me.confirm(r.data["flow_id"], "000000")
    seen.append(json.dumps(wrong.data, ensure_ascii=False, default=str))
    code = await last_code(surface.client, OWNER, "contract_link_code")
    seen.append(json.dumps((await me.confirm(r.data["flow_id"], code)).data, ensure_ascii=False, default=str))
    [item] = await me.items()
    assert item["number"] == CARD_MASKED
    seen.append(json.dumps((await me.link("card", CARD, "secret", "0000")).data, ensure_ascii=False, default=str))
    ok(await me.unlink(item["id"]))
    seen.append(json.dumps(ok(await me.link("card", CARD, "secret", "4321")).data, ensure_ascii=False, default=str))
    for path in ("/contracts", "/contracts/link", "/cabinet", "/security", "/notifications"):
        seen.append((await me.s.client.get(path, headers=me._headers())).text)
    for path in ("/api/v1/contracts", "/api/v1/notifications", "/api/v1/security-events", "/dev/outbox.json"):
        seen.append((await me.s.client.get(path, headers=me._headers())).text)
    async with services.db.read() as s:
        for model in (OutboxMessage, SecurityEvent, Flow, OneTimeCode, RegistryContract, ContractLink):
            for row in (await s.execute(select(model))).scalars():
                seen.append(json.dumps({c.name: getattr(row, c.name) for c in model.__table__.columns},
                                       ensure_ascii=False, default=str))
    seen.append(caplog.text)
    everything = "\n".join(seen)
    assert CARD_MASKED in everything  # the check below looks at the right material
    for whole in (CARD, CARD_GROUPED):
        at = everything.find(whole)
        assert at < 0, everything[max(0, at - 300):at + 50]
    assert CARD[:12] not in everything and CARD[4:12] not in everything and "3800 1234" not in everything
    assert CARD not in re.sub(r"\D", "", everything)


async def test_contract_numbers_with_html_or_sql_are_kept_literally_and_escaped(surface, services):
    odd = "12<b>x</b>';--"
    await seed(services, {"number": odd, "kind": "contract", "phone": "", "secret": "7"})
    me = await signed_in(surface, services, 323)
    ok(await me.link("contract", odd, "secret", "7"))
    assert [i["number"] for i in await me.items()] == [odd]
    page = (await me.s.client.get("/contracts", headers=me._headers())).text
    assert "<b>x</b>" not in page and "12&lt;b&gt;x&lt;/b&gt;&#39;;--" in page


# -- bad input -------------------------------------------------------------------------------

BAD_LINKS = [
    ({"kind": "", "number": CONTRACT}, "kind", "contracts.kind_required"),
    ({"kind": "bank", "number": CONTRACT}, "kind", "contracts.kind_invalid"),
    ({"kind": "<script>", "number": CONTRACT}, "kind", "contracts.kind_invalid"),
    ({"kind": "contract", "number": ""}, "number", "contracts.number_required"),
    ({"kind": "contract", "number": "   "}, "number", "contracts.number_required"),
    ({"kind": "contract", "number": "1" * 41}, "number", "contracts.number_length"),
    ({"kind": "contract", "number": "12\x0034"}, "number", "contracts.number_format"),
    ({"kind": "contract", "number": "12\u202e34"}, "number", "contracts.number_format"),
    ({"kind": "card", "number": "4276380012345678"}, "number", "card.checksum"),
    ({"kind": "card", "number": "4276"}, "number", "card.length"),
    ({"kind": "card", "number": "4276-3800-abcd-5679"}, "number", "card.format"),
    ({"kind": "card", "number": ""}, "number", "card.required"),
    ({"kind": "contract", "number": CONTRACT, "method": "fax"}, "method", "contracts.method_invalid"),
    ({"kind": "contract", "number": CONTRACT, "method": "secret", "secret": ""}, "secret", "contracts.secret_required"),
    ({"kind": "contract", "number": CONTRACT, "method": "secret", "secret": "1" * 65}, "secret",
     "contracts.secret_format"),
    ({"kind": "contract", "number": CONTRACT, "method": "secret", "secret": "12\x07"}, "secret",
     "contracts.secret_format"),
]


async def test_bad_input_on_every_field_is_refused_with_a_russian_message_and_nothing_written(surface, services):
    await seed_default(services)
    me = await signed_in(surface, services, 324)
    before = await counts(services)
    catalog = services.catalog
    for fields, field, message_id in BAD_LINKS:
        body = {"method": "sms", **fields}
        r = await me.link(body["kind"], body["number"], body["method"], body.get("secret"))
        assert (r.status, r.field) == (422, field), (fields, answer(r))
        assert shown(r) == catalog.text(message_id, "ru", max=40 if field == "number" else 64), (fields, shown(r))
    assert await counts(services) == before
    # Several wrong fields at once: each is named.
    r = await me.link("bank", "", "fax")
    assert r.status == 422
    if me.ui:
        assert set(r.data["fields"]) == {"kind", "number", "method"}
    else:
        assert {f["field"] for f in r.data["error"]["fields"]} == {"kind", "number", "method"}
    # The code form: letters, wrong length, empty.
    flow = ok(await me.link("contract", CONTRACT))
    for code, message_id in (("abcdef", "code.format"), ("12345", "code.format"), ("", "code.required")):
        c = await me.confirm(flow.data["flow_id"], code)
        assert (c.status, c.field) == (422, "code"), (code, answer(c))
        assert shown(c) == catalog.text(message_id, "ru", length=6)
    for bad in ("nonexistent", "x" * 65, "abc.def", "a b"):
        assert (await me.confirm(bad, "123456")).status == 404, bad
    assert len(await links(services)) == 0
    # Bad guesses were not counted as guesses: the account can still link.
    ok(await me.link("contract", CONTRACT, "secret", "1520.40"))


async def test_api_bodies_of_the_wrong_shape_get_4xx_not_500(client, services):
    await seed_default(services)
    api = ApiSurface(client)
    phone = await make_user(services, 325)
    ok(await api.login(method="phone", phone=phone, password=PASSWORD))
    headers = {"Authorization": f"Bearer {api.token}"}
    for body in ({"kind": ["card"], "number": CONTRACT}, {"kind": "card", "number": {"x": 1}}, [1, 2], "text"):
        r = await client.post("/api/v1/contracts", json=body, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["code"] == "bad_request", (body, r.text)
    r = await client.post("/api/v1/contracts", content=b"{not json", headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 400
    r = await client.post("/api/v1/contracts", json={"kind": "contract", "number": "1" * 300}, headers=headers)
    assert r.status_code == 422
    # Mass assignment: an account_id in the body is ignored.
    other = await make_user(services, 326)
    other_acc = await account(services, other)
    r = await client.post("/api/v1/contracts", json={"kind": "contract", "number": CONTRACT, "method": "secret",
                                                     "secret": "1520.40", "account_id": other_acc.id},
                          headers=headers)
    assert r.status_code == 201
    [link] = await links(services)
    assert link.account_id == (await account(services, phone)).id
    assert (await client.get("/api/v1/contracts")).status_code == 401


# -- the registry: CLI and admin API -----------------------------------------------------------

CSV_GOOD_AND_BAD = (
    "number,kind,phone,secret\n"
    "100200300400,contract,+79161234567,\"1 520,40\"\n"   # line 2: ok
    "4276380012345678,card,+79161234567,4321\n"           # line 3: bad Luhn
    "100200300401,contract,12ab,1\n"                      # line 4: bad phone
    "100200300402,bank,+79161234567,1\n"                  # line 5: unknown kind
    ",contract,+79161234567,1\n"                          # line 6: missing number
    "\n"                                                  # line 7: blank, skipped
    "4276 3800 1234 5679,card,89161234567,\n"             # line 8: ok
    "100200300403,contract,,\n"                           # line 9: no phone and no secret
)


def _cli(backend: dict[str, str], *args: str) -> Any:
    env = {k: None for k in os.environ if k.startswith("DOSTUP_")}
    env.update({**backend, "DOSTUP_SECRET_KEY": TEST_SECRET})
    return CliRunner().invoke(cli_app, list(args), env=env)


async def test_cli_import_reports_bad_rows_by_line_and_imports_the_rest_idempotently(surface, services, backend,
                                                                                       tmp_path: Path):
    path = tmp_path / "registry.csv"
    path.write_text(CSV_GOOD_AND_BAD, encoding="utf-8")
    first = await asyncio.to_thread(_cli, backend, "admin", "import-contracts", str(path))
    assert first.exit_code == 1, first.output
    lines = first.stderr.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["line 3", "line 4", "line 5", "line 6", "line 9"], lines
    assert lines[0] == "line 3: number: " + services.catalog.text("card.checksum", "en")
    assert lines[1].startswith("line 4: phone:") and lines[2].startswith("line 5: kind:")
    assert lines[3].startswith("line 6: number:") and lines[4].startswith("line 9: phone:")
    assert "imported 2 (new 2, updated 0)" in first.stdout
    assert CARD not in first.output
    second = await asyncio.to_thread(_cli, backend, "admin", "import-contracts", str(path))
    assert "imported 2 (new 0, updated 2)" in second.stdout
    async with services.db.read() as s:
        rows = list((await s.execute(select(RegistryContract).order_by(RegistryContract.kind))).scalars())
    assert [(r.kind, r.number, r.display, r.owner_phone) for r in rows] == [
        ("card", None, CARD_MASKED, OWNER), ("contract", CONTRACT, CONTRACT, OWNER)]
    assert rows[0].number_hash == number_key(services.keyring, "card", CARD)
    # What the CLI imported links in the cabinet (the same keys on both sides).
    me = await signed_in(surface, services, 327)
    ok(await me.link("contract", CONTRACT, "secret", "1520.40"))


@pytest.mark.parametrize("content", [b"\xff\xfenumber,kind\n", b"", b"num,type\n1,card\n"])
async def test_cli_refuses_a_file_it_cannot_read_and_imports_nothing(services, backend, tmp_path: Path, content):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    r = await asyncio.to_thread(_cli, backend, "admin", "import-contracts", str(path))
    assert r.exit_code == 1 and r.stderr.startswith("dostup: "), r.output
    missing = await asyncio.to_thread(_cli, backend, "admin", "import-contracts", str(tmp_path / "nope.csv"))
    assert missing.exit_code != 0
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(RegistryContract))).scalar_one() == 0


async def _bearer(client: httpx.AsyncClient, services: Any, n: int, role: str) -> StaffHeaders:
    return await staff_bearer(client, services, n, role)


async def test_admin_api_imports_csv_text_and_json_rows_and_refuses_everyone_else(client_factory, services):
    admin = client_factory()
    headers = await _bearer(admin, services, 330, "admin")
    url = "/api/v1/admin/contracts/import"
    r = await admin.post(url, content=CSV_GOOD_AND_BAD.encode(), headers={**headers, "Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["updated"]) == (2, 0)
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(3, "number"), (4, "phone"), (5, "kind"),
                                                                 (6, "number"), (9, "phone")]
    assert all(CYRILLIC.search(e["message"]) for e in body["errors"])
    assert CARD not in r.text
    r = await admin.post(url, json={"rows": [{"number": "200300400500", "kind": "contract", "phone": OWNER},
                                             {"number": OTHER_CARD, "kind": "card", "secret": 1234},
                                             {"number": "1", "kind": "nope", "phone": OWNER}]}, headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["created"], [(e["line"], e["field"]) for e in r.json()["errors"]]) == (2, [(3, "kind")])
    r = await admin.post(url, json={"csv": CSV_GOOD_AND_BAD}, headers={**headers, "Accept-Language": "en"})
    assert (r.json()["created"], r.json()["updated"]) == (0, 2)
    assert r.json()["errors"][0]["message"] == services.catalog.text("card.checksum", "en")
    for bad in ({}, {"csv": "x", "rows": []}, {"rows": "x"}, [1]):
        r = await admin.post(url, json=bad, headers=headers)
        assert r.status_code == 422, (bad, r.text)
    r = await admin.post(url, content=b"{nope", headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 400
    r = await admin.post(url, content=b"\xff\xfe", headers={**headers, "Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "file"
    r = await admin.post(url, content=b"a,b\n", headers={**headers, "Content-Type": "text/csv"})
    assert r.status_code == 422
    huge = b"number,kind,phone,secret\n" + b"100200300400,contract,,1\n" * 4000  # over 64 KB
    r = await admin.post(url, content=huge, headers={**headers, "Content-Type": "text/csv"})
    assert r.status_code == 413
    # Others: a customer's token 403, no token 401, the admin's own cookie session 403.
    customer = client_factory()
    cheaders = await _bearer(customer, services, 331, "customer")
    r = await customer.post(url, json={"csv": CSV_GOOD_AND_BAD}, headers=cheaders)
    assert r.status_code == 403 and r.json()["error"]["code"] == "admin_only"
    assert (await client_factory().post(url, json={"csv": CSV_GOOD_AND_BAD})).status_code == 401
    browser = await staff_browser(client_factory(), services, headers)
    r = await browser.client.post(url, json={"csv": CSV_GOOD_AND_BAD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "bearer_required"
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(RegistryContract))).scalar_one() == 4
        audit = list((await s.execute(select(SecurityEvent).where(SecurityEvent.kind == "contracts_imported")))
                     .scalars())
    assert len(audit) == 3 and all(e.account_id for e in audit)


# -- presets ---------------------------------------------------------------------------------

async def test_kit_cabinet_has_no_contracts_link(surface, services):
    me = await signed_in(surface, services, 332)
    page = (await me.s.client.get("/cabinet", headers=me._headers())).text
    assert "/contracts" not in page


class TestRostelecom:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, str]:
        return {"DOSTUP_PRESET": "rostelecom"}

    async def test_the_cabinet_offers_linking_prominently_and_the_nav_lists_accounts(self, surface, services):
        me = await signed_in(surface, services, 333)
        page = (await me.s.client.get("/cabinet", headers=me._headers())).text
        assert '<a href="/contracts">Лицевые счета</a>' in page
        assert 'href="/contracts/link">Привязать лицевой счёт</a>' in page
        await seed_default(services)
        r = await me.link("contract", CONTRACT, "secret", "1520.40")
        assert r.ok
        r = await me.link("contract", CONTRACT, "secret", "1520.40")
        assert r.status == 409 and "уже привязан к вашему кабинету" in shown(r)
