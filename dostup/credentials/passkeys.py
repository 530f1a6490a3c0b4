"""Passkeys (WebAuthn Level 2, https://www.w3.org/TR/webauthn-2/): the relying party's half, on py_webauthn.

- **Relying party.**  The RP ID is the host of ``DOSTUP_PUBLIC_URL`` and the allowed origin its
  scheme + host + port (§5.1.3 steps 9–10); ``DOSTUP_PASSKEYS__RP_ID`` and
  ``DOSTUP_PASSKEYS__ORIGINS`` override them (an app on a sub-domain, a mobile app's
  ``android:apk-key-hash:…`` origin).  An IP address is no RP ID (§5.1.4.1: a valid domain), so
  with ``http://127.0.0.1:…`` passkeys are off: ``dostup serve`` uses ``http://localhost:PORT``.
- **User verification required** (§6.2.3): the passkey proves possession *and* the user (a
  fingerprint, a PIN on the device), which is what makes a passkey sign-in ``aal2`` on its own
  (NIST 800-63B §5.1.9, multi-factor cryptographic authenticator).
- **amr (RFC 8176 §2).**  ``hwk`` is a proof of possession of a hardware-secured key, ``swk`` of
  a software-secured one.  A *single-device* credential (BE flag clear, §6.1.3) never leaves
  its authenticator's secure element or TPM: ``hwk``.  A *multi-device* (synced, backed-up)
  passkey is copied between devices through a cloud keychain, so its key is not bound to one
  piece of hardware: ``swk``.  The authenticator attachment (``platform`` or ``cross-platform``)
  is recorded and shown, but does not decide: a platform authenticator can hold either kind.
  Both add ``user`` (the user was verified) and ``mfa``.
- **Sign count** (§6.1.1, §7.2 step 21): when either the stored or the new count is non-zero the
  new one must be greater; otherwise the authenticator may be cloned, and the assertion is
  refused (the caller records a security event).
- The WebAuthn user handle is an HMAC of the account id (§14.6.1: not personal data, stable, so
  a second registration on one authenticator replaces the first rather than piling up).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import ipaddress
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dostup.core.crypto import Keyring
from dostup.core.errors import AuthenticationFailed, ValidationFailed
from dostup.session.strength import Strength

if TYPE_CHECKING:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

# py_webauthn (with cbor2, pyOpenSSL and pyasn1 behind it, ~10 MiB resident) is imported by the
# functions below on the first passkey ceremony, not by every web process at start (issue 13 §0).

TYPE = "passkey"
TIMEOUT_MS = 5 * 60 * 1000  # the challenge lives as long as its flow (SECURITY.md: 5 minutes)
MAX_ID_BYTES = 128  # ids are ≤ 64 bytes from every authenticator seen; the spec's 1023 only invites abuse
MAX_RESPONSE_CHARS = 16 * 1024
_TRANSPORTS = frozenset({"ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb"})  # AuthenticatorTransport


class PasskeyInvalid(ValidationFailed):
    """A response that cannot be a passkey's answer to our challenge (malformed, other challenge,
    other origin or RP ID, user not verified).  One message: which check failed is no business
    of the client."""

    code = "passkey_invalid"
    message_id = "passkeys.invalid"

    def __init__(self) -> None:
        super().__init__(field="credential")


class PasskeyUnknown(AuthenticationFailed):
    """No passkey with this id (never added, or deleted): the browser may still offer it."""

    code = "passkey_unknown"
    message_id = "passkeys.unknown"


class PasskeyCloned(AuthenticationFailed):
    """The signature counter went backwards: two copies of one key may exist."""

    code = "passkey_sign_count"
    message_id = "passkeys.sign_count"


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    name: str
    origins: tuple[str, ...]


def relying_party(public_url: str, name: str, rp_id: str = "", origins: tuple[str, ...] = ()) -> RelyingParty | None:
    """The relying party for this instance, or None when its URL names no domain (passkeys off)."""
    parts = urlsplit(public_url)
    host = rp_id or (parts.hostname or "")
    if not host or _is_ip(host):
        return None
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return RelyingParty(host.lower(), name, tuple(o.rstrip("/") for o in origins) or (origin,))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def user_handle(keyring: Keyring, account_id: str) -> bytes:
    return bytes.fromhex(keyring.mac("passkey-user", account_id))[:32]


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _descriptors(ids: list[str]) -> list[PublicKeyCredentialDescriptor]:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

    return [PublicKeyCredentialDescriptor(id=unb64url(i)) for i in ids]


def registration_options(rp: RelyingParty, handle: bytes, user_name: str, display_name: str,
                         existing: list[str]) -> tuple[dict[str, Any], bytes]:
    """``PublicKeyCredentialCreationOptions`` as JSON, and the challenge to keep (§5.4)."""
    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    options = generate_registration_options(
        rp_id=rp.id, rp_name=rp.name, user_id=handle, user_name=user_name, user_display_name=display_name,
        timeout=TIMEOUT_MS, exclude_credentials=_descriptors(existing),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED),
    )
    return json.loads(options_to_json(options)), options.challenge


def authentication_options(rp: RelyingParty, allowed: list[str] | None = None,
                           challenge: bytes | None = None) -> tuple[dict[str, Any], bytes]:
    """``PublicKeyCredentialRequestOptions`` as JSON (§5.5), and the challenge to keep: 64 random
    bytes (§13.4.3: at least 16), user verification required, no ``allowCredentials`` for a
    usernameless sign-in.  Built as py_webauthn's ``options_to_json`` writes them, without its
    dataclasses and the JSON round trip (a sign-in page asks for these on every visit).
    ``challenge``: one derived by the caller (a signed flow id's, 32 bytes), instead of random."""
    if challenge is None:
        challenge = secrets.token_bytes(64)
    return {"challenge": b64url(challenge), "timeout": TIMEOUT_MS, "rpId": rp.id,
            "allowCredentials": [{"id": i, "type": "public-key"} for i in allowed or ()],
            "userVerification": "required"}, challenge


def parse_response(response: object) -> dict[str, Any]:
    """The client's ``PublicKeyCredential`` as a JSON object, bounded before any parsing."""
    if isinstance(response, str):
        if len(response) > MAX_RESPONSE_CHARS:
            raise PasskeyInvalid()
        try:
            response = json.loads(response)
        except ValueError:
            raise PasskeyInvalid() from None
    if not isinstance(response, dict) or not isinstance(response.get("id"), str):
        raise PasskeyInvalid()
    return response


def credential_id(response: dict[str, Any]) -> str:
    """The response's credential id (base64url), checked for shape and size before any look-up."""
    value = str(response["id"])
    try:
        raw = unb64url(value)
    except (binascii.Error, ValueError):
        raise PasskeyInvalid() from None
    if not raw or len(raw) > MAX_ID_BYTES or b64url(raw) != value:
        raise PasskeyInvalid()
    return value


@dataclass(frozen=True, slots=True)
class NewPasskey:
    credential_id: str
    config: dict[str, object]


def verify_registration(rp: RelyingParty, response: dict[str, Any], challenge: bytes) -> NewPasskey:
    from webauthn import verify_registration_response

    cred_id = credential_id(response)
    try:
        verified = verify_registration_response(
            credential=response, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=list(rp.origins), require_user_verification=True)
    except Exception:  # noqa: BLE001 - the library's parsers meet attacker input: any failure is a refusal
        raise PasskeyInvalid() from None
    if b64url(verified.credential_id) != cred_id:
        raise PasskeyInvalid()
    transports = response.get("response", {}).get("transports") or []
    attachment = response.get("authenticatorAttachment")
    return NewPasskey(cred_id, {
        "public_key": b64url(verified.credential_public_key),
        "sign_count": verified.sign_count,
        "device_type": verified.credential_device_type.value,
        "backed_up": verified.credential_backed_up,
        "attachment": attachment if attachment in ("platform", "cross-platform") else None,
        "transports": [t for t in transports if t in _TRANSPORTS] if isinstance(transports, list) else [],
        "aaguid": verified.aaguid,
    })


@dataclass(frozen=True, slots=True)
class Assertion:
    sign_count: int
    device_type: str
    backed_up: bool


def verify_assertion(rp: RelyingParty, response: dict[str, Any], challenge: bytes, config: dict[str, object]) -> Assertion:
    """Check an assertion against a stored passkey (WebAuthn §7.2); raise :class:`PasskeyInvalid`
    on any failed check and :class:`PasskeyCloned` on a counter that went back (only once the
    signature is good, so a forged answer cannot raise that alarm)."""
    stored = int(str(config.get("sign_count", 0)))
    try:
        assertion = _verified(rp, response, challenge, str(config["public_key"]))
    except Exception:  # noqa: BLE001 - parsers and key decoding meet attacker input: any failure is a refusal
        raise PasskeyInvalid() from None
    if (assertion.sign_count > 0 or stored > 0) and assertion.sign_count <= stored:
        raise PasskeyCloned()
    return assertion


# The checks of py_webauthn's ``verify_authentication_response`` (3.0), done here without its
# dataclasses, enums and the COSE → ``cryptography`` key conversion on every call: a sign-in's
# CPU budget is a few whoamis (issue 10 §7).  ``tests/unit/test_passkey_assertion.py`` breaks each
# check in turn and compares every verdict with py_webauthn's.

UP, UV, BE, BS, AT, ED = 0x01, 0x04, 0x08, 0x10, 0x40, 0x80  # authenticator data flags (§6.1)
_TOKEN_BINDING = frozenset({"supported", "present"})  # the statuses py_webauthn accepts (§5.8.1)
_ATTACHMENTS = frozenset({"platform", "cross-platform"})


def _verified(rp: RelyingParty, response: dict[str, Any], challenge: bytes, public_key: str) -> Assertion:
    # the credential as JSON (PublicKeyCredential.toJSON()): an assertion, its id twice
    if response.get("type") != "public-key":
        raise PasskeyInvalid()
    if b64url(_bytes(response.get("rawId"))) != response["id"]:
        raise PasskeyInvalid()
    answer = response.get("response")
    if not isinstance(answer, dict):
        raise PasskeyInvalid()
    client_data = _bytes(answer.get("clientDataJSON"))
    auth_data = _bytes(answer.get("authenticatorData"))
    signature = _bytes(answer.get("signature"))
    handle = answer.get("userHandle")
    if handle is not None:
        _bytes(handle)
    attachment = response.get("authenticatorAttachment")
    if isinstance(attachment, str) and attachment not in _ATTACHMENTS:
        raise PasskeyInvalid()
    # §7.2 steps 10-14: the client data names this ceremony, our challenge and an allowed origin
    client = json.loads(client_data)
    if type(client) is not dict or client.get("type") != "webauthn.get":
        raise PasskeyInvalid()
    if _bytes(client.get("challenge")) != challenge or client.get("origin") not in rp.origins:
        raise PasskeyInvalid()
    binding = client.get("tokenBinding")
    if isinstance(binding, dict) and binding.get("status") not in _TOKEN_BINDING:
        raise PasskeyInvalid()
    # steps 15-17: our RP ID, the user present and verified
    if len(auth_data) < 37 or auth_data[:32] != _rp_id_hash(rp.id):
        raise PasskeyInvalid()
    flags = auth_data[32]
    if not flags & UP or not flags & UV:
        raise PasskeyInvalid()
    if flags & (AT | ED):  # attested data or extensions: their CBOR must end the data exactly
        from webauthn.helpers import parse_authenticator_data

        parse_authenticator_data(auth_data)
    elif len(auth_data) != 37:
        raise PasskeyInvalid()
    if flags & BS and not flags & BE:  # backed up but not eligible for backup: impossible
        raise PasskeyInvalid()
    # steps 19-20: the signature over authenticatorData || SHA-256(clientDataJSON)
    key, alg = _public_key(public_key)
    from webauthn.helpers import verify_signature  # loaded with the key above

    verify_signature(public_key=key, signature_alg=alg, signature=signature,
                     data=auth_data + hashlib.sha256(client_data).digest())
    return Assertion(int.from_bytes(auth_data[33:37], "big"), "multi_device" if flags & BE else "single_device",
                     bool(flags & BS))


def _bytes(value: object) -> bytes:
    if not isinstance(value, str):
        raise PasskeyInvalid()
    return unb64url(value)


@functools.cache
def _rp_id_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode()).digest()


_KEYS: dict[str, tuple[Any, Any]] = {}
KEYS_CACHED = 4096  # ~1 KiB each: a few MiB at most


def _public_key(stored: str) -> tuple[Any, Any]:
    """The stored COSE key as a ``cryptography`` key and its COSE algorithm, decoded once per
    process by py_webauthn (every key type it registers) and kept (a key is its own cache key,
    so nothing goes stale; the oldest entries go first when the bound is reached)."""
    hit = _KEYS.get(stored)
    if hit is None:
        from webauthn.helpers import decode_credential_public_key, decoded_public_key_to_cryptography

        decoded = decode_credential_public_key(unb64url(stored))
        hit = (decoded_public_key_to_cryptography(decoded), decoded.alg)
        while len(_KEYS) >= KEYS_CACHED:
            _KEYS.pop(next(iter(_KEYS), ""), None)
        _KEYS[stored] = hit
    return hit


def strength(device_type: object) -> Strength:
    """What a verified passkey proves on its own (see the module docstring for hwk/swk)."""
    key = "swk" if device_type == "multi_device" else "hwk"  # CredentialDeviceType.MULTI_DEVICE
    return Strength(2, (key, "user", "mfa"))
