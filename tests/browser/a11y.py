"""The checks every page of the browser walks passes, at 360 px and at 1280 px.

``check(page)`` asserts that the page does not scroll sideways (``document.scrollingElement.scrollWidth``
is at most the viewport's width) and runs axe-core (npm ``axe-core``, pinned in ``tests/browser/node``:
``npm ci --prefix tests/browser/node``) on it: no violation of ``serious`` or ``critical`` impact.
``track(page)`` records the addresses a page's documents come from, so the ``page`` fixture can fail a passing
walk that visited an address it never checked.  A form re-rendered with its errors keeps its address: the
walks check those error states where they make them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

import pytest
from playwright.sync_api import Frame, Page, expect

WIDTHS = (360, 1280)
AXE = Path(__file__).resolve().parent / "node" / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")

# axe.run's result cut down to what a failure message needs (the page answers JSON, not axe's objects).
_RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
  }));
}"""


@cache
def _axe_source() -> str:
    if not AXE.exists():
        message = f"{AXE} is missing: npm ci --prefix tests/browser/node --no-audit --no-fund"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


@dataclass
class Visits:
    """The addresses a page's documents came from, in order, and those checked (without their «#…»)."""

    urls: list[str] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)

    def unchecked(self) -> list[str]:
        return [url for url in dict.fromkeys(self.urls) if url not in self.checked]


_VISITS: dict[int, Visits] = {}


def track(page: Page) -> Visits:
    """Record the address of every document ``page``'s main frame commits."""
    visits = _VISITS.setdefault(id(page), Visits())

    def navigated(frame: Frame) -> None:
        if frame == page.main_frame and frame.url != "about:blank":
            visits.urls.append(urldefrag(frame.url).url)

    page.on("framenavigated", navigated)
    page.on("close", lambda _: _VISITS.pop(id(page), None))
    return visits


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated, not added as a <script>: the pages' Content-Security-Policy (script-src 'self') rightly
        # refuses an inline script, and a test must not loosen the policy it also checks.
        page.evaluate(_axe_source())
    found: list[dict[str, Any]] = page.evaluate(_RUN_AXE)
    return [v for v in found if v["impact"] in FAILING_IMPACTS]


def _describe(found: list[dict[str, Any]]) -> str:
    lines = []
    for v in found:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        lines.extend(f"    {n['target']}: {n['summary']}" for n in v["nodes"])
    return "\n".join(lines)


def check(page: Page) -> None:
    """The page fits its viewport's width and axe-core finds nothing serious or critical on it."""
    page.wait_for_load_state("load")
    viewport = page.viewport_size
    assert viewport is not None
    width = viewport["width"]
    scroll_width = page.evaluate("() => document.scrollingElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} scrolls sideways at {width} px: it is {scroll_width} px wide"
    found = violations(page)
    assert not found, f"axe-core on {page.url} at {width} px:\n{_describe(found)}"
    visits = _VISITS.get(id(page))
    if visits is not None:
        visits.checked.add(urldefrag(page.url).url)


def open_menu(page: Page) -> None:
    """Unfold the header's navigation when it is folded under «Меню» (a narrow screen); else nothing."""
    toggle = page.get_by_role("banner").get_by_role("button", name="Меню")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")


def not_ours(page: Page) -> None:
    """The page shown now is another site's (a social provider's sign-in): not Dostup's to check."""
    _VISITS.setdefault(id(page), Visits()).checked.add(urldefrag(page.url).url)
