"""The configured providers with their kinds' defaults filled in (issue 11 §1).

``yandex`` — Yandex ID: OAuth 2.0 (with PKCE), then ``login.yandex.ru/info`` for the person;
``vk`` — VK ID: OAuth 2.1 with PKCE, ``id.vk.com/oauth2/user_info`` for the person;
``sber`` — Sber ID: OpenID Connect on its documented endpoints (issuer and JWKS from the contract);
``oidc`` — any OpenID Connect provider by its issuer (discovery).
Every endpoint can be overridden in the settings (the tests point them at local servers).
"""

from __future__ import annotations

from dataclasses import dataclass

from dostup.settings import SocialProvider

DEFAULTS: dict[str, dict[str, str]] = {
    "yandex": {
        "authorization_endpoint": "https://oauth.yandex.ru/authorize",
        "token_endpoint": "https://oauth.yandex.ru/token",
        "userinfo_endpoint": "https://login.yandex.ru/info?format=json",
    },
    "vk": {
        "authorization_endpoint": "https://id.vk.com/authorize",
        "token_endpoint": "https://id.vk.com/oauth2/auth",
        "userinfo_endpoint": "https://id.vk.com/oauth2/user_info",
    },
    "sber": {
        "authorization_endpoint": "https://online.sberbank.ru/CSAFront/oidc/authorize.do",
        "token_endpoint": "https://oauth.sber.ru/ru/prod/tokens/v2/oidc",
        "userinfo_endpoint": "https://oauth.sber.ru/ru/prod/sberbankid/v2.1/userinfo",
    },
    "oidc": {},
}
SCOPES: dict[str, tuple[str, ...]] = {
    "yandex": ("login:info", "login:email", "login:default_phone"),
    "vk": ("vkid.personal_info", "email", "phone"),
    "sber": ("openid", "name", "email", "mobile"),
    "oidc": ("openid", "profile", "email", "phone"),  # ``phone`` only if discovery lists it
}


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    kind: str
    name: str
    client_id: str
    client_secret: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    scopes: tuple[str, ...]
    trusted: bool
    icon: str
    timeout_seconds: float
    confirms_identity: bool = False  # a bank whose verified claims confirm identity (levels of assurance)
    sign_in: bool = True  # offered for social sign-in (false: a bank that only confirms identity)

    @property
    def openid(self) -> bool:
        """It signs an ID token (checked: signature, iss, aud, exp, nonce)."""
        return self.kind in ("oidc", "sber")

    @classmethod
    def of(cls, p: SocialProvider) -> Provider:
        d = DEFAULTS[p.kind]
        return cls(
            id=p.id,
            kind=p.kind,
            name=p.name,
            client_id=p.client_id,
            client_secret=p.client_secret,
            issuer=p.issuer.rstrip("/") if p.kind == "oidc" else p.issuer,
            authorization_endpoint=p.authorization_endpoint or d.get("authorization_endpoint", ""),
            token_endpoint=p.token_endpoint or d.get("token_endpoint", ""),
            userinfo_endpoint=p.userinfo_endpoint or d.get("userinfo_endpoint", ""),
            jwks_uri=p.jwks_uri,
            scopes=tuple(p.scopes) or SCOPES[p.kind],
            trusted=p.trusted,
            icon=p.icon,
            timeout_seconds=p.timeout_seconds,
            confirms_identity=p.confirms_identity,
            sign_in=p.sign_in,
        )


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider says signed in: ``subject`` is the only thing a link is keyed by; the rest
    prefills a registration (verified flags as the provider states them)."""

    provider: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    phone: str | None = None
    phone_verified: bool = False
    given_name: str | None = None
    family_name: str | None = None
    middle_name: str | None = None

    @property
    def key(self) -> str:
        """``credential_identifiers.identifier`` of the link (unique per type)."""
        return f"{self.provider}:{self.subject}"

    def to_json(self) -> dict[str, object]:
        return {
            "provider": self.provider,
            "subject": self.subject,
            "email": self.email,
            "email_verified": self.email_verified,
            "phone": self.phone,
            "phone_verified": self.phone_verified,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "middle_name": self.middle_name,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Identity:
        def opt(name: str) -> str | None:
            value = data.get(name)
            return str(value) if value else None

        return cls(
            str(data["provider"]),
            str(data["subject"]),
            opt("email"),
            bool(data.get("email_verified")),
            opt("phone"),
            bool(data.get("phone_verified")),
            opt("given_name"),
            opt("family_name"),
            opt("middle_name"),
        )
