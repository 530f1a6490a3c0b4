"""The protocol half of social sign-in on Authlib's client core (RFC 6749 request builders, RFC 7636
PKCE, client_secret_basic, OpenID Connect ID-token claim rules) with httpx for the wire and joserfc
for signatures (SECURITY.md: OpenID Connect as client).

Every request carries PKCE (S256), ``state`` and, for OpenID providers, ``nonce``; the ID token is
checked for its signature (the provider's JWKS), ``iss``, ``aud``, ``exp`` and ``nonce``.  A
provider that answers 5xx, garbage or nothing in time is :class:`ProviderUnavailable` (503); an
answer that proves nothing (a refused code, a bad token) is :class:`ProviderRefused`.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from dostup.core.errors import AuthenticationFailed, ServiceUnavailable
from dostup.federation.assurance import listed
from dostup.federation.providers import Identity, Provider

DISCOVERY_TTL_SECONDS = 3600
LEEWAY_SECONDS = 60
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


class ProviderUnavailable(ServiceUnavailable):
    code = "provider_unavailable"
    message_id = "social.provider_unavailable"


class ProviderRefused(AuthenticationFailed):
    code = "provider_refused"
    message_id = "social.provider_refused"


class Secrets(dict[str, str]):
    """What a started sign-in keeps on the server: the PKCE verifier and the nonce."""

    @classmethod
    def new(cls) -> Secrets:
        return cls(verifier=generate_token(64), nonce=generate_token(32))


def _json(resp: httpx.Response, provider: Provider) -> dict[str, Any]:
    if resp.status_code >= 500:
        raise ProviderUnavailable(params={"name": provider.name})
    try:
        body = resp.json()
    except ValueError:
        raise ProviderUnavailable(params={"name": provider.name}) from None
    if not isinstance(body, dict):
        raise ProviderUnavailable(params={"name": provider.name})
    if resp.status_code >= 400 or "error" in body:
        raise ProviderRefused(params={"name": provider.name})
    return body


class FederationClient:
    def __init__(self, providers: list[Provider]) -> None:
        self.providers = {p.id: p for p in providers}
        self._discovered: dict[str, tuple[float, dict[str, Any]]] = {}

    # -- requests ------------------------------------------------------------------------------

    async def _call(self, provider: Provider, method: str, url: str, **kw: Any) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=provider.timeout_seconds, follow_redirects=False) as client:
                resp = await client.request(method, url, **kw)
        except httpx.HTTPError:
            raise ProviderUnavailable(params={"name": provider.name}) from None
        return _json(resp, provider)

    async def endpoints(self, provider: Provider) -> dict[str, str]:
        """The provider's endpoints (discovery for ``oidc``, cached an hour)."""
        return await self._metadata(provider)

    async def _metadata(self, provider: Provider) -> dict[str, str]:
        """Endpoints: from discovery for ``oidc`` (cached an hour), overridden by the settings."""
        given = {
            "authorization_endpoint": provider.authorization_endpoint,
            "token_endpoint": provider.token_endpoint,
            "userinfo_endpoint": provider.userinfo_endpoint,
            "jwks_uri": provider.jwks_uri,
        }
        if provider.kind != "oidc":
            return given
        seen = self._discovered.get(provider.id)
        if seen is None or time.monotonic() - seen[0] > DISCOVERY_TTL_SECONDS:
            doc = await self._call(provider, "GET", provider.issuer + "/.well-known/openid-configuration")
            if str(doc.get("issuer", "")).rstrip("/") != provider.issuer:  # OpenID Discovery §4.3
                raise ProviderUnavailable(params={"name": provider.name})
            seen = (time.monotonic(), doc)
            self._discovered[provider.id] = seen
        doc = seen[1]
        found = {k: v or str(doc.get(k) or "") for k, v in given.items()}
        found["scopes_supported"] = " ".join(doc.get("scopes_supported") or [])
        return found

    async def authorization_url(self, provider: Provider, state: str, secrets: Secrets, redirect_uri: str,
                                claims: dict[str, Any] | None = None) -> str:
        """A plain authorization request (no PAR): code flow, PKCE S256, state, nonce; ``claims``: the
        OpenID Connect ``claims`` parameter (Core §5.5), for the person's verified claims."""
        meta = await self._metadata(provider)
        scopes = list(provider.scopes)
        supported = meta.get("scopes_supported", "").split()
        if provider.kind == "oidc" and supported:  # ask the phone scope only where the provider has it
            scopes = [s for s in scopes if s != "phone" or "phone" in supported]
        extra: dict[str, str] = {
            "code_challenge": create_s256_code_challenge(secrets["verifier"]),
            "code_challenge_method": "S256",
        }
        if provider.openid:
            extra["nonce"] = secrets["nonce"]
        if claims is not None:
            extra["claims"] = json.dumps(claims, separators=(",", ":"))
        return str(
            prepare_grant_uri(
                meta["authorization_endpoint"],
                provider.client_id,
                "code",
                redirect_uri=redirect_uri,
                scope=" ".join(scopes),
                state=state,
                **extra,
            )
        )

    async def identity(
        self, provider: Provider, code: str, secrets: Secrets, redirect_uri: str, device_id: str | None = None
    ) -> Identity:
        """Exchange the code (client_secret_basic) and say who signed in."""
        if provider.openid:
            return _openid(provider, await self.claims(provider, code, secrets, redirect_uri))
        meta, tokens = await self._exchange(provider, code, secrets, redirect_uri, device_id)
        access = tokens["access_token"]
        if provider.kind == "yandex":
            return _yandex(
                provider,
                await self._call(
                    provider, "GET", meta["userinfo_endpoint"], headers={"Authorization": f"OAuth {access}"}
                ),
            )
        info = await self._call(
            provider,
            "POST",
            meta["userinfo_endpoint"],
            data={"client_id": provider.client_id, "access_token": access},
        )
        return _vk(provider, info)

    async def claims(self, provider: Provider, code: str, secrets: Secrets, redirect_uri: str) -> dict[str, Any]:
        """An OpenID provider's claims: the checked ID token's over userinfo's (same ``sub``, Core §5.3.2).
        ``verified_claims`` (OpenID Connect for Identity Assurance) of both are kept, as a list."""
        meta, tokens = await self._exchange(provider, code, secrets, redirect_uri, None)
        access = tokens["access_token"]
        claims = await self._id_token(provider, meta, tokens.get("id_token"), secrets["nonce"])
        verified = listed(claims.get("verified_claims"))
        if meta.get("userinfo_endpoint"):
            info = await self._call(
                provider, "GET", meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {access}"}
            )
            if info.get("sub") != claims["sub"]:  # OpenID Connect Core §5.3.2
                raise ProviderRefused(params={"name": provider.name})
            verified += listed(info.get("verified_claims"))
            claims = {**info, **claims}
        if verified:
            claims["verified_claims"] = verified
        return claims

    async def _exchange(
        self, provider: Provider, code: str, secrets: Secrets, redirect_uri: str, device_id: str | None
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """The token request: the endpoints and the token response (its ``access_token`` checked)."""
        meta = await self._metadata(provider)
        params: dict[str, str] = {"code_verifier": secrets["verifier"]}
        if provider.kind == "vk":  # VK ID: a public client bound to the device the code was issued to
            params.update(client_id=provider.client_id, device_id=device_id or "")
        body = prepare_token_request("authorization_code", code=code, redirect_uri=redirect_uri, **params)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        url = meta["token_endpoint"]
        if provider.client_secret:
            url, headers, body = ClientAuth(provider.client_id, provider.client_secret, "client_secret_basic").prepare(
                "POST", url, headers, body
            )
        tokens = await self._call(provider, "POST", url, content=body, headers=headers)
        access = tokens.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderRefused(params={"name": provider.name})
        return meta, tokens

    async def _id_token(self, provider: Provider, meta: dict[str, str], token: object, nonce: str) -> dict[str, Any]:
        if not isinstance(token, str) or not meta.get("jwks_uri"):
            raise ProviderRefused(params={"name": provider.name})
        keys = await self._call(provider, "GET", meta["jwks_uri"])
        issuer = provider.issuer
        try:
            decoded = jwt.decode(token, KeySet.import_key_set(keys), algorithms=ALGORITHMS)  # type: ignore[arg-type]
            claims = CodeIDToken(
                decoded.claims,
                dict(decoded.header),
                options={
                    "iss": {"essential": True, "values": [issuer, issuer + "/"]},
                    "aud": {"essential": True, "value": provider.client_id},
                    "nonce": {"essential": True},
                },
                params={"nonce": nonce, "client_id": provider.client_id},
            )
            claims.validate(leeway=LEEWAY_SECONDS)
        except (JoseError, ValueError, KeyError, TypeError):
            raise ProviderRefused(params={"name": provider.name}) from None
        if not claims.get("sub") or claims.get("nonce") != nonce:
            raise ProviderRefused(params={"name": provider.name})
        return dict(claims)


def _text(value: object) -> str | None:
    return str(value).strip()[:254] or None if value not in (None, "") else None


def _openid(provider: Provider, c: dict[str, Any]) -> Identity:
    return Identity(
        provider.id,
        str(c["sub"]),
        _text(c.get("email")),
        c.get("email_verified") is True,
        _text(c.get("phone_number")),
        c.get("phone_number_verified") is True,
        _text(c.get("given_name")),
        _text(c.get("family_name")),
        _text(c.get("middle_name")),
    )


def _yandex(provider: Provider, info: dict[str, Any]) -> Identity:
    """``login.yandex.ru/info``: Yandex ID keeps only confirmed addresses and phones."""
    if not info.get("id"):
        raise ProviderRefused(params={"name": provider.name})
    phone = info.get("default_phone")
    number = phone.get("number") if isinstance(phone, dict) else None
    email = _text(info.get("default_email"))
    return Identity(
        provider.id,
        str(info["id"]),
        email,
        email is not None,
        _text(number),
        number is not None,
        _text(info.get("first_name")),
        _text(info.get("last_name")),
    )


def _vk(provider: Provider, info: dict[str, Any]) -> Identity:
    """``id.vk.com/oauth2/user_info``: a VK ID account is confirmed by its phone."""
    user = info.get("user")
    if not isinstance(user, dict) or not user.get("user_id"):
        raise ProviderRefused(params={"name": provider.name})
    phone = _text(user.get("phone"))
    if phone and not phone.startswith("+"):
        phone = "+" + phone
    return Identity(
        provider.id,
        str(user["user_id"]),
        _text(user.get("email")),
        bool(user.get("email")),
        phone,
        phone is not None,
        _text(user.get("first_name")),
        _text(user.get("last_name")),
    )


def loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")
