"""Dostup as an OpenID Connect provider (issue 12), on Authlib's framework-free server core.

No FastAPI here: ``dostup.web.oidc`` turns requests into :class:`~dostup.oidc.provider.server.HttpRequest`
values and the results back into responses.
"""
