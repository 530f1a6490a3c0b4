"""One oidc-provider process per test module (``op``), its clients' redirect URIs on http://testserver."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.social.support import NodeProvider, node_provider

PROVIDERS = ("op", "op-trusted")


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProvider]:
    with node_provider(
        tmp_path_factory.mktemp("op"), [f"http://testserver/social/{p}/callback" for p in PROVIDERS]
    ) as provider:
        yield provider


def providers_env(*settings: dict[str, object]) -> dict[str, str]:
    return {"DOSTUP_SOCIAL__PROVIDERS": json.dumps(list(settings))}
