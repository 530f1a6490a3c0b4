"""What a hot-path commit writes to SQLite's WAL: each page a commit changes is one more frame
written now and one more page the checkpoint copies later, so the sign-in's writes touch no
index they do not need (issue 10 §7: a passkey sign-in's CPU against a whoami's)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dostup.guards.store import UnitCounters
from dostup.persistence.db import Raw
from dostup.services import Services


async def frames_of(services: Services, write: Callable[[], Awaitable[Any]]) -> int:
    """The WAL frames ``write`` commits (the pages it changed), after a checkpoint copied all before."""
    checkpointer = services.db._checkpointer
    assert checkpointer is not None
    checkpointer._checkpoint()
    before = checkpointer.pending_frames()
    assert before == 0
    await write()
    return checkpointer.pending_frames() - before


@pytest.fixture
def sqlite_only(services: Services) -> None:
    if not services.db.is_sqlite:
        pytest.skip("SQLite's WAL")


@pytest.mark.usefixtures("sqlite_only")
async def test_a_hit_inside_its_window_rewrites_the_counter_row_alone(services: Services) -> None:
    """Counting a live window changes ``count`` only: its commit writes the row's page, not the
    expiry index's (the window's first hit writes both)."""
    store = services.store
    for i in range(400):  # enough rows for the table and its indexes to span several pages
        await store.hit_many([(f"t-fill-{i:04d}", 100, 60)])
    assert await frames_of(services, lambda: store.hit_many([("t-fill-0200", 100, 60)])) == 1
    assert await store.get("t-fill-0200") == 2

    def in_unit(raw: Raw) -> None:
        UnitCounters(raw, services.clock.now()).hit_many([("t-fill-0300", 100, 60)])

    assert await frames_of(services, lambda: services.db.run_raw(in_unit)) == 1
    assert await store.get("t-fill-0300") == 2
    assert await frames_of(services, lambda: store.hit_many([("t-new", 100, 60)])) >= 2
