"""The passkey assertion check (WebAuthn §7.2) that Dostup does itself, beside py_webauthn's.

``dostup.credentials.passkeys.verify_assertion`` checks an assertion without py_webauthn's
``verify_authentication_response`` (CPU: issue 10 §7).  Each case below breaks exactly one thing
in an otherwise valid, correctly signed assertion, so removing any one check makes its case
pass where it must fail; every verdict is also compared with py_webauthn's (3.0) on the same input.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn import generate_authentication_options, options_to_json, verify_authentication_response
from webauthn.helpers.structs import UserVerificationRequirement

from dostup.credentials import passkeys as pk
from tests.flows.passkey_support import Key, b64url

RP = pk.RelyingParty("example.org", "Dostup", ("https://example.org", "android:apk-key-hash:abc"))
UP, UV, BE, BS, AT, ED = 0x01, 0x04, 0x08, 0x10, 0x40, 0x80
CHALLENGE = os.urandom(64)


def _key() -> Key:
    return Key(os.urandom(32), ec.generate_private_key(ec.SECP256R1()), RP.id, os.urandom(32))


KEY = _key()
CONFIG = {"public_key": b64url(KEY.cose()), "sign_count": 0}


def assertion(*, key: Key = KEY, kind: str = "webauthn.get", challenge: bytes = CHALLENGE,
              origin: str = "https://example.org", rp_id: str = RP.id, flags: int = UP | UV, count: int = 1,
              client_extra: dict[str, Any] | None = None, tail: bytes = b"", client_raw: bytes | None = None,
              signed: Callable[[bytes], bytes] | None = None, **outer: Any) -> dict[str, Any]:
    """A signed assertion; each keyword changes one thing (``signed``: what is signed instead of
    the right data; ``outer``: members of the credential JSON replaced)."""
    client = client_raw if client_raw is not None else json.dumps(
        {"type": kind, "challenge": b64url(challenge), "origin": origin, "crossOrigin": False,
         **(client_extra or {})}).encode()
    auth_data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", count) + tail
    data = auth_data + hashlib.sha256(client).digest()
    signature = key.private.sign(signed(data) if signed else data, ec.ECDSA(hashes.SHA256()))
    cred = {"id": b64url(key.credential_id), "rawId": b64url(key.credential_id), "type": "public-key",
            "authenticatorAttachment": "platform", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client), "authenticatorData": b64url(auth_data),
                         "signature": b64url(signature), "userHandle": b64url(key.user_handle)}}
    replaced = outer.pop("response", {})
    response = {**cred["response"], **replaced} if isinstance(replaced, dict) else replaced
    return {**cred, **outer, "response": response}


def ours(answer: dict[str, Any], config: dict[str, object] = CONFIG) -> pk.Assertion:
    return pk.verify_assertion(RP, answer, CHALLENGE, config)


def theirs(answer: dict[str, Any], config: dict[str, object] = CONFIG) -> Any:
    return verify_authentication_response(
        credential=answer, expected_challenge=CHALLENGE, expected_rp_id=RP.id, expected_origin=list(RP.origins),
        credential_public_key=pk.unb64url(str(config["public_key"])), credential_current_sign_count=0,
        require_user_verification=True)


def test_a_valid_assertion_passes_both_checks_alike():
    for flags, device, backed_up in ((UP | UV, "single_device", False), (UP | UV | BE, "multi_device", False),
                                     (UP | UV | BE | BS, "multi_device", True)):
        answer = assertion(flags=flags, count=7)
        mine, reference = ours(answer), theirs(answer)
        assert (mine.sign_count, mine.device_type, mine.backed_up) == (7, device, backed_up)
        assert (reference.new_sign_count, reference.credential_device_type.value,
                reference.credential_backed_up) == (7, device, backed_up)


def test_extensions_and_the_other_origin_and_no_user_handle_are_accepted_alike():
    extensions = cbor2.dumps({"credProps": {"rk": True}})
    cases = [assertion(flags=UP | UV | ED, tail=extensions), assertion(origin="android:apk-key-hash:abc"),
             assertion(response={"userHandle": None}), assertion(authenticatorAttachment=None),
             assertion(client_extra={"tokenBinding": {"status": "present", "id": "abc"}}),
             assertion(client_extra={"tokenBinding": "not-a-dict (some U2F devices)"})]
    for answer in cases:
        assert ours(answer).sign_count == theirs(answer).new_sign_count == 1


OTHER = _key()

REFUSED: dict[str, Callable[[], dict[str, Any]]] = {
    # the credential JSON
    "type is not public-key": lambda: assertion(type="password"),
    "rawId is not id": lambda: assertion(rawId=b64url(os.urandom(32))),
    "rawId missing": lambda: assertion(rawId=None),
    "response not an object": lambda: assertion(response="x"),
    "authenticatorData missing": lambda: assertion(response={"authenticatorData": None}),
    "signature missing": lambda: assertion(response={"signature": 5}),
    "userHandle not a string": lambda: assertion(response={"userHandle": 5}),
    "attachment unknown": lambda: assertion(authenticatorAttachment="telepathic"),
    # clientDataJSON (§7.2 steps 10-14)
    "client data not JSON": lambda: assertion(client_raw=b"{not json"),
    "client data not an object": lambda: assertion(client_raw=b"[]"),
    "a registration's client data": lambda: assertion(kind="webauthn.create"),
    "type missing": lambda: assertion(client_raw=json.dumps(
        {"challenge": b64url(CHALLENGE), "origin": "https://example.org"}).encode()),
    "another challenge": lambda: assertion(challenge=os.urandom(64)),
    "challenge missing": lambda: assertion(client_raw=json.dumps(
        {"type": "webauthn.get", "origin": "https://example.org"}).encode()),
    "another origin": lambda: assertion(origin="https://evil.example"),
    "another port": lambda: assertion(origin="https://example.org:8443"),
    "origin missing": lambda: assertion(client_raw=json.dumps(
        {"type": "webauthn.get", "challenge": b64url(CHALLENGE)}).encode()),
    "token binding not supported": lambda: assertion(client_extra={"tokenBinding": {"status": "not-supported"}}),
    "token binding without status": lambda: assertion(client_extra={"tokenBinding": {"id": "abc"}}),
    # authenticatorData (steps 15-17, §6.1)
    "another RP ID": lambda: assertion(rp_id="evil.example"),
    "user not present": lambda: assertion(flags=UV),
    "user not verified": lambda: assertion(flags=UP),
    "backed up but not eligible": lambda: assertion(flags=UP | UV | BS),
    "bytes after the data": lambda: assertion(tail=b"\x00"),
    "bytes after the extensions": lambda: assertion(flags=UP | UV | ED, tail=cbor2.dumps({}) + b"\x00"),
    "extensions flagged, none there": lambda: assertion(flags=UP | UV | ED),
    "too short": lambda: assertion(response={"authenticatorData": b64url(bytes(36))}),
    # the signature (steps 19-20)
    "signed by another key": lambda: assertion(key=OTHER),
    "signature over other data": lambda: assertion(signed=lambda data: data + b"\x00"),
    "signature over the data without the client data hash": lambda: assertion(signed=lambda data: data[:-32]),
    "signature not DER": lambda: assertion(response={"signature": b64url(b"\x30\x02\x01\x01")}),
}


@pytest.mark.parametrize("case", REFUSED)
def test_each_broken_assertion_is_refused_as_py_webauthn_refuses_it(case):
    answer = REFUSED[case]()
    with pytest.raises(pk.PasskeyInvalid):
        ours(answer)
    with pytest.raises(Exception):  # noqa: B017, PT011 - py_webauthn raises several kinds
        theirs(answer)


def test_the_sign_count_must_grow_once_either_count_is_not_zero():
    assert ours(assertion(count=0)).sign_count == 0  # synced passkeys report 0 every time
    assert ours(assertion(count=6), {**CONFIG, "sign_count": 5}).sign_count == 6
    for count in (5, 4, 0):
        with pytest.raises(pk.PasskeyCloned):
            ours(assertion(count=count), {**CONFIG, "sign_count": 5})
    with pytest.raises(pk.PasskeyInvalid):  # a forged answer cannot raise the clone alarm
        ours(assertion(count=3, signed=lambda data: data + b"\x00"), {**CONFIG, "sign_count": 5})


def test_a_cached_key_is_only_its_own_credential():
    assert ours(assertion()).sign_count == 1  # KEY decoded and kept
    other_config = {"public_key": b64url(OTHER.cose()), "sign_count": 0}
    assert ours(assertion(key=OTHER), other_config).sign_count == 1
    with pytest.raises(pk.PasskeyInvalid):
        ours(assertion(key=OTHER), CONFIG)
    with pytest.raises(pk.PasskeyInvalid):
        ours(assertion(), other_config)
    with pytest.raises(pk.PasskeyInvalid):  # a stored key that is no COSE key
        ours(assertion(), {"public_key": b64url(b"\xa1\x01\x02"), "sign_count": 0})


def test_the_request_options_are_py_webauthns_with_a_fresh_challenge():
    options, challenge = pk.authentication_options(RP, ["AAAA", "BBBB"])
    reference = json.loads(options_to_json(generate_authentication_options(
        rp_id=RP.id, challenge=challenge, timeout=pk.TIMEOUT_MS, allow_credentials=pk._descriptors(["AAAA", "BBBB"]),
        user_verification=UserVerificationRequirement.REQUIRED)))
    assert options == reference
    assert len(challenge) == 64 and pk.authentication_options(RP)[1] != challenge
    assert pk.authentication_options(RP)[0]["allowCredentials"] == []
