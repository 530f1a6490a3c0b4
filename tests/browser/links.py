"""Every link a walk meets answers 200: the pages' own links (documents, settings tabs, footer) are
fetched with the walk's cookies as they are met, each address once per walk."""

from __future__ import annotations

from playwright.sync_api import Page


class Links:
    def __init__(self) -> None:
        self.checked: dict[str, int] = {}

    def check(self, page: Page) -> None:
        """Fetch each same-site link of the page not fetched yet; fail naming the page and the link."""
        hrefs = page.eval_on_selector_all(
            "a[href^='/']", "els => els.map(e => e.getAttribute('href').split('#')[0])")
        for href in dict.fromkeys(hrefs):
            if not href or href in self.checked or href.startswith("/static/"):
                continue
            status = page.request.get(href, max_redirects=5).status
            self.checked[href] = status
            assert status == 200, f"{href} on {page.url} answers {status}"
