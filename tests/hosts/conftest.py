"""The separate-hosts harness (issue 13 §2): skipped where network namespaces cannot be made.

It needs root (``ip netns``), ``setpriv``, ``redis-server`` and PostgreSQL's server binaries.  Where
they are missing the tests are skipped with the reason — unless ``DOSTUP_TEST_HOSTS=require``
(``.ci/run`` sets it when it runs as root), which turns that skip into a failure, so CI cannot
silently stop running them.  ``DOSTUP_TEST_HOSTS=skip`` skips them on purpose.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.hosts.cluster import Cluster, cluster_session
from tests.hosts.lab import probe

MODE = os.environ.get("DOSTUP_TEST_HOSTS", "auto")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    ours = [item for item in items if str(item.fspath).startswith(here)]
    if not ours:
        return
    reason = "DOSTUP_TEST_HOSTS=skip" if MODE == "skip" else probe()
    for item in ours:
        item.add_marker(pytest.mark.hosts)
        if reason and MODE != "require":
            item.add_marker(pytest.mark.skip(reason=f"separate hosts unavailable: {reason}"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    reason = probe()
    if reason:
        pytest.fail(f"DOSTUP_TEST_HOSTS=require but separate hosts are unavailable: {reason}")
    yield from cluster_session()
