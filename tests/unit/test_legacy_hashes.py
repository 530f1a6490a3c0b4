"""Imported password hashes (SPEC §4.15): each format checked against a value made by another
implementation — the bcrypt vector of the OpenBSD/John the Ripper suites, PBKDF2 derived by
``openssl kdf`` (OpenSSL's command line, not Python's hashlib) and written as Django, Werkzeug and
passlib write it."""

from __future__ import annotations

import pytest

from dostup.credentials import legacy_hashes as L
from dostup.credentials.password import PasswordHasher
from dostup.settings import PasswordSettings

OLD = "Staryi-Parol-2019"
# openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt pass:Staryi-Parol-2019 -kdfopt salt:seasalt -kdfopt iter:1000 PBKDF2
VECTORS = {
    "bcrypt": ("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    "bcrypt 2b": ("U*U", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    "bcrypt 2y": ("U*U", "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    "django sha256": (OLD, "pbkdf2_sha256$1000$seasalt$EJOEoaxNNzn9SWD9jtMcMwBhl2vWhqi8etbL1Fvobhk="),
    "django sha1": (OLD, "pbkdf2_sha1$1000$seasalt$XJ7IJKbM2eKfXLuYfAsu0N+g5bU="),
    "werkzeug sha256": (OLD, "pbkdf2:sha256:1000$seasalt$109384a1ac4d3739fd4960fd8ed31c330061976bd686a8bc7ad6cbd45be86e19"),
    # werkzeug.security.generate_password_hash of Werkzeug 3.1.9 (its default method, and N=2^14 with p=2)
    "werkzeug scrypt": ("Пароль-от-старого-кабинета1",
                        "scrypt:32768:8:1$vRShbW5SL45GNIRv$24a2ee02a5f44005b1375c8d0d98ebf6f901e3a225311c7f6df3bdbb06740dd1"
                        "259392076b7636c2862dbd852638a3aba7f651cd0022b5968320e094cc1ffb91"),
    "werkzeug scrypt p2": ("correct horse",
                           "scrypt:16384:8:2$5dwnMNDKa2ZyKdky$75dd1b48eff3c8fbdefeee329f77ec54ede5a1110a345c91e31241e3201d65d7"
                           "4dfda911789cda51427f44153145a00d62b79342d7e4de9587c5f146ac66682a"),
    "passlib sha512": (OLD, "$pbkdf2-sha512$1000$c2Vhc2FsdA$Uw7BKKml5tdhUFO.CIkQH54bl1ucsMx9NA/4m96S9hAK10vLFiy7HJaK2vgWNCnjkq7/"
                            "2Mu0oRj5D/dOT.tfYQ"),
}


@pytest.mark.parametrize("name", VECTORS)
def test_each_format_accepts_its_password_and_refuses_another(name):
    password, stored = VECTORS[name]
    legacy = L.parse(stored)
    assert legacy is not None
    assert L.verify(legacy, password)
    assert not L.verify(legacy, password + "x")
    assert not L.verify(legacy, password.swapcase())


def test_bcrypt_counts_the_first_72_bytes_as_the_systems_that_wrote_it():
    import bcrypt

    long = "д" * 40  # 80 bytes in UTF-8
    stored = bcrypt.hashpw(long.encode()[:72], bcrypt.gensalt(4)).decode()
    assert L.verify(L.parse(stored), long)  # bcrypt 5 refuses > 72 bytes; the check truncates first


@pytest.mark.parametrize("stored", [
    "$2a$15$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",  # cost above the bound: seconds a sign-in
    "$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
    "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe",  # one character short
    "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
    "pbkdf2_sha256$999$seasalt$EJOEoaxNNzn9SWD9jtMcMwBhl2vWhqi8etbL1Fvobhk=",  # too few iterations
    "pbkdf2_sha256$2000001$seasalt$EJOEoaxNNzn9SWD9jtMcMwBhl2vWhqi8etbL1Fvobhk=",  # too many: a CPU sink
    "pbkdf2_sha256$1000$seasalt$EJOEoaxNNzn9SWD9jtMcMwBhl2vWhqi8etbL1Fvobh=",  # bad base64
    "pbkdf2_sha256$1000$seasalt$XJ7IJKbM2eKfXLuYfAsu0N+g5bU=",  # a SHA-1 length under sha256
    "pbkdf2_md5$1000$seasalt$EJOEoaxNNzn9SWD9jtMcMwBhl2vWhqi8etbL1Fvobhk=",
    "pbkdf2_sha256$1000$$EJOEoaxNNzn9SWD9jtMcMwBhl2vWhqi8etbL1Fvobhk=",  # no salt
    "pbkdf2_sha256$1000$seasalt",
    "pbkdf2:sha256:1000$seasalt$zz9384a1ac4d3739fd4960fd8ed31c330061976bd686a8bc7ad6cbd45be86e19",
    "pbkdf2:sha256$seasalt$109384a1ac4d3739fd4960fd8ed31c330061976bd686a8bc7ad6cbd45be86e19",
    "$pbkdf2-sha512$1000$c2Vhc2FsdA$not*base64",
    "md5$seasalt$5f4dcc3b5aa765d61d8327deb882cf99",
    # scrypt: N not a power of two, memory over 32 MiB (N=2^16, r=8), work over the bound, a short key, no
    # salt, missing or non-numeric parameters, bad hex
    "scrypt:30000:8:1$vRShbW5SL45GNIRv$" + "24" * 64,
    "scrypt:65536:8:1$vRShbW5SL45GNIRv$" + "24" * 64,
    "scrypt:16384:8:8$vRShbW5SL45GNIRv$" + "24" * 64,
    "scrypt:32768:8:1$vRShbW5SL45GNIRv$" + "24" * 32,
    "scrypt:32768:8:1$$" + "24" * 64,
    "scrypt:32768:8$vRShbW5SL45GNIRv$" + "24" * 64,
    "scrypt$vRShbW5SL45GNIRv$" + "24" * 64,
    "scrypt:32768:8:x$vRShbW5SL45GNIRv$" + "24" * 64,
    "scrypt:32768:0:1$vRShbW5SL45GNIRv$" + "24" * 64,
    "scrypt:32768:8:1$vRShbW5SL45GNIRv$" + "zz" * 64,
    "5f4dcc3b5aa765d61d8327deb882cf99",
    "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
    "",
])
def test_unknown_malformed_or_out_of_bounds_hashes_are_not_taken(stored):
    assert L.parse(stored) is None


async def test_the_hasher_checks_an_imported_hash_and_asks_for_argon2id_only_when_it_matches():
    hasher = PasswordHasher(PasswordSettings(argon2_time_cost=1, argon2_memory_kib=8, hash_threads=1))
    try:
        stored = VECTORS["django sha256"][1]
        assert await hasher.verify(stored, OLD) == (True, True)
        assert await hasher.verify(stored, "Wrong-Parol-2019") == (False, False)
        assert await hasher.verify("md5$seasalt$5f4dcc3b5aa765d61d8327deb882cf99", "password") == (False, False)
    finally:
        hasher.close()
