"""The fast sign-in routes' context (``web/api/plain_passkey.api_context``) is ``make_context(request,
"api")``'s for every shape of request: client or none, user agent missing, long or repeated,
``Accept-Language`` and ``?lang=`` in every combination."""

from __future__ import annotations

import itertools

import pytest
from starlette.requests import Request

from dostup.web.api.plain_passkey import api_context
from dostup.web.deps import make_context

AGENTS = [[], [(b"user-agent", b"python-httpx/0.28.1")], [(b"user-agent", b"A" * 700)],
          [(b"user-agent", b"first"), (b"user-agent", b"second")], [(b"user-agent", "Мозилла".encode())]]
LANGUAGES = [[], [(b"accept-language", b"en-US,en;q=0.9")], [(b"accept-language", b"de, fr;q=0.5")],
             [(b"accept-language", b"ru"), (b"accept-language", b"en")]]
QUERIES = [b"", b"lang=en", b"lang=ru&x=1", b"lang=xx", b"x=1", b"lang=en&lang=ru"]
CLIENTS = [("10.0.0.7", 51000), None]


@pytest.mark.parametrize(("agent", "language", "query", "client"),
                         list(itertools.product(AGENTS, LANGUAGES, QUERIES, CLIENTS)))
def test_the_fast_context_is_make_contexts(agent, language, query, client) -> None:
    scope = {"type": "http", "method": "POST", "path": "/api/v1/login/passkey", "query_string": query,
             "headers": [(b"host", b"testserver"), *agent, (b"content-type", b"application/json"), *language],
             "client": client}
    assert api_context(Request(scope)) == make_context(Request(scope), "api")
