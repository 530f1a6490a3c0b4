"""Customers of a previous cabinet (SPEC §4.15): imported with their password hashes, signed in
with their old password, whose hash that sign-in replaces with argon2id — on both surfaces and
both backends.  The import itself: rows checked and reported by line, identifiers already used
(by an account or an earlier row) skipped, nothing changed in an existing account."""

from __future__ import annotations

from sqlalchemy import select

from dostup.admin.users_import import UserImporter, read_csv
from dostup.persistence.models import Account
from tests.factories import make_account
from tests.unit.test_legacy_hashes import OLD, VECTORS

DJANGO = VECTORS["django sha256"][1]
BCRYPT_U = VECTORS["bcrypt"][1]  # the password "U*U" (too short for today's policy: still accepted, it is the old one)
SCRYPT_PASSWORD, SCRYPT = VECTORS["werkzeug scrypt"]  # a Flask cabinet's default hash


async def _import(services, text: str):
    return await UserImporter(services.db).import_rows(read_csv(text), now=services.clock.now())


async def _hash(services, phone: str) -> str | None:
    async with services.db.read() as s:
        return (await s.execute(select(Account.password_hash).where(Account.phone == phone))).scalar_one()


async def test_an_imported_customer_signs_in_with_the_old_password_which_becomes_argon2id(services, surface):
    report = await _import(services, "phone,email,password_hash,given_name\n"
                                     f"8 912 000-11-22,old@example.ru,{DJANGO},Ирина\n"
                                     f"+79120001133,,{BCRYPT_U},\n"
                                     f"+79120001144,,{SCRYPT},\n")
    assert (report.created, report.errors) == (3, [])
    wrong = await surface.login(method="phone", phone="+79120001122", password="Wrong-Parol-2019")
    assert not wrong.ok
    assert await _hash(services, "+79120001122") == DJANGO  # a failed try changes nothing
    signed = await surface.login(method="phone", phone="+79120001122", password=OLD)
    assert signed.ok, (signed.status, signed.message)
    upgraded = await _hash(services, "+79120001122")
    assert upgraded is not None and upgraded.startswith("$argon2id$")
    assert (await services.hasher.verify(upgraded, OLD))[0]
    assert (await surface.login(method="phone", phone="+79120001133", password="U*U")).ok
    assert (await _hash(services, "+79120001133") or "").startswith("$argon2id$")
    assert not (await surface.login(method="phone", phone="+79120001144", password=SCRYPT_PASSWORD + "x")).ok
    assert await _hash(services, "+79120001144") == SCRYPT
    assert (await surface.login(method="phone", phone="+79120001144", password=SCRYPT_PASSWORD)).ok
    assert (await _hash(services, "+79120001144") or "").startswith("$argon2id$")


async def test_a_second_sign_in_uses_the_new_hash(services, client):
    await _import(services, f"login,phone,password_hash\nivan.petrov,+79120003301,{DJANGO}\n")
    for _ in range(2):
        r = await client.post("/api/v1/login", json={"method": "phone", "phone": "+79120003301", "password": OLD})
        assert r.status_code == 200, r.text
    async with services.db.read() as s:
        account = (await s.execute(select(Account).where(Account.login == "ivan.petrov"))).scalar_one()
    assert account.password_hash.startswith("$argon2id$") and account.phone_verified_at is not None


async def test_bad_rows_are_reported_by_line_and_the_good_ones_imported(services):
    existing = await make_account(services, 5, email="taken@example.ru")
    report = await _import(services, "\n".join([
        "Phone,EMAIL,login,password_hash,family_name",
        f"+79120002201,,,{DJANGO},Смирнова",  # 2: imported
        "12345,,,,",  # 3: not a phone
        ",not-an-email,,,",  # 4
        ",,,,Иванов",  # 5: no identifier
        "+79120002202,,,md5$x$5f4dcc3b5aa765d61d8327deb882cf99,",  # 6: unknown hash format
        f"{existing.phone},,,{DJANGO},",  # 7: the phone of an account
        ",TAKEN@example.ru,,,",  # 8: its email, in other case
        f"+7 912 000-22-01,,,{DJANGO},",  # 9: the phone of row 2
        ",,,," + "я" * 300,  # 10: too long
        "+79120002203,,,,",  # 11: imported without a password (recovery sets one)
        ",,a b!,,",  # 12: not a login
    ]) + "\n")
    snils = await _import(services, "snils,password_hash\n112-233-445 95,\n11223344595,\n12345678901,\n")
    assert (snils.created, [(e.line, e.field, e.code) for e in snils.errors]) == (
        1, [(3, "snils", "duplicate"), (4, "snils", "invalid")])
    assert report.created == 2
    assert [(e.line, e.field, e.code) for e in report.errors] == [
        (3, "phone", "invalid"), (4, "email", "invalid"), (5, "phone", "no_identifier"),
        (6, "password_hash", "unsupported_hash"), (7, "phone", "taken"), (8, "email", "taken"),
        (9, "phone", "duplicate"), (10, "family_name", "too_long"), (12, "login", "invalid")]
    assert all(services.catalog.has(e.message_id) for e in report.errors)
    assert await _hash(services, "+79120002203") is None
    async with services.db.read() as s:
        kept = (await s.execute(select(Account).where(Account.id == existing.id))).scalar_one()
    assert kept.password_hash.startswith("$argon2id$")  # the existing account is untouched
    again = await _import(services, f"phone,password_hash\n+79120002201,{DJANGO}\n")
    assert (again.created, [(e.line, e.code) for e in again.errors]) == (0, [(2, "taken")])


async def test_the_admin_api_imports_csv_and_json_rows_and_refuses_everyone_else(client_factory, services):
    from dostup.persistence.models import SecurityEvent
    from tests.flows.test_contracts import _bearer

    admin = client_factory()
    headers = await _bearer(admin, services, 340, "admin")
    url = "/api/v1/admin/users/import"
    r = await admin.post(url, content=f"phone,password_hash\n+79120005501,{DJANGO}\n12,\n".encode(),
                         headers={**headers, "Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"]) == (1, 0)
    assert [(e["line"], e["field"], e["code"]) for e in r.json()["errors"]] == [(3, "phone", "invalid")]
    r = await admin.post(url, json={"rows": [{"phone": 79120005502, "password_hash": BCRYPT_U},
                                             {"email": "x@example.ru", "password_hash": "plain-text"}]},
                         headers={**headers, "Accept-Language": "en"})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1
    assert r.json()["errors"] == [{"line": 2, "field": "password_hash", "code": "unsupported_hash",
                                   "message": services.catalog.text("users.import_hash", "en")}]
    customer = client_factory()
    assert (await customer.post("/api/v1/login", json={"method": "phone", "phone": "+79120005502",
                                                       "password": "U*U"})).status_code == 200
    for bad in ({}, {"csv": "x", "rows": []}, {"rows": "x"}, [1], {"rows": [{"phone": ["x"]}]}):
        r = await admin.post(url, json=bad, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["code"] == "bad_request", (bad, r.text)
    r = await admin.post(url, content=b"{nope", headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 400
    r = await admin.post(url, content=b"phone\n\xff\xfe", headers={**headers, "Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "file"
    r = await admin.post(url, content=b"name,password_hash\nx,\n", headers={**headers, "Content-Type": "text/csv"})
    assert r.status_code == 422 and "phone, email, login" in r.json()["error"]["message"]
    r = await admin.post(url, json={"rows": [{}] * 5001}, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_rows"
    r = await admin.post(url, content=b"x", headers={**headers, "Content-Type": "application/xml"})
    assert r.status_code == 422
    other = client_factory()
    cheaders = await _bearer(other, services, 341, "customer")
    r = await other.post(url, json={"csv": "phone\n+79120005503\n"}, headers=cheaders)
    assert r.status_code == 403 and r.json()["error"]["code"] == "admin_only"
    assert (await client_factory().post(url, json={"csv": "phone\n+79120005503\n"})).status_code == 401
    async with services.db.read() as s:
        assert (await s.execute(select(Account).where(Account.phone == "+79120005503"))).first() is None
        audit = list((await s.execute(select(SecurityEvent).where(SecurityEvent.kind == "users_imported"))).scalars())
    assert len(audit) == 2 and all(e.account_id for e in audit)
