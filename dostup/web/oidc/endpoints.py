"""Machine endpoints: discovery, JWKS, token, revocation, introspection, userinfo.

Every refusal is the RFC's own error object (``invalid_request``, ``invalid_grant``,
``invalid_client`` …), never a 500 and never an HTML page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from dostup.oidc.provider.service import TokenRefused
from dostup.web.api.plain_passkey import FAST_ERROR
from dostup.web.deps import get_services
from dostup.web.oidc.http import NO_STORE, core_request, core_response

router = APIRouter(include_in_schema=False)


@router.get("/.well-known/openid-configuration")
async def discovery(request: Request) -> Response:
    return JSONResponse(get_services(request).oidc.discovery(), headers={"Cache-Control": "public, max-age=300"})


@router.get("/oauth2/jwks")
async def jwks(request: Request) -> Response:
    return JSONResponse(await get_services(request).oidc.jwks(), headers={"Cache-Control": "public, max-age=300"})


async def _posted(request: Request, endpoint: str) -> Response:
    """A POST endpoint answered by Authlib's core: the request as it reads it, its answer as is."""
    req = await core_request(request)
    if isinstance(req, Response):
        return req
    return core_response(await getattr(get_services(request).oidc, endpoint)(req))


async def token(request: Request) -> Response:
    failed = request.scope.pop(FAST_ERROR, None)
    if failed is not None:  # the fast path's (``fast_token.py``), raised again for the handlers to answer
        raise failed
    return await _posted(request, "token")


@router.post("/oauth2/revoke")
async def revoke(request: Request) -> Response:
    return await _posted(request, "revoke")


@router.post("/oauth2/introspect")
async def introspect(request: Request) -> Response:
    return await _posted(request, "introspect")


async def userinfo(request: Request) -> Response:
    """RFC 6750 §2.1 header (the form parameter of §2.2 for POST); errors in ``WWW-Authenticate``."""
    failed = request.scope.pop(FAST_ERROR, None)
    if failed is not None:  # the fast path's (``fast_token.py``), raised again for the handlers to answer
        raise failed
    auth = request.headers.get("authorization", "")
    value = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    if value is None and request.method == "POST":
        req = await core_request(request)
        if isinstance(req, Response):
            return req
        value = (req.form or {}).get("access_token")
    try:
        claims = await get_services(request).oidc.userinfo(value)
    except TokenRefused as exc:
        challenge = f'Bearer error="{exc.error}"' if value else "Bearer"
        return JSONResponse({"error": exc.error}, status_code=exc.status,
                            headers={"WWW-Authenticate": challenge, **NO_STORE})
    return JSONResponse(claims, headers=NO_STORE)


# The two hot calls of a partner, on plain Starlette routes (``dostup/web/api/plain.py``; ``create_app``
# puts them before every router).  Their answers are Authlib's or the RFC's own, as before.
PLAIN = [("/oauth2/token", token, ["POST"]), ("/oauth2/userinfo", userinfo, ["GET", "POST"])]
