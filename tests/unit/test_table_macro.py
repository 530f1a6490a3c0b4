"""The pages' one table macro (``_macros.html: table``): a row per item from its caller, headings from
message ids (``~id`` for screen readers only), and the page's «… пока нет» instead of an empty table."""

from __future__ import annotations

from typing import Any

from dostup.web.ui.render import _env

SOURCE = """{% from "_macros.html" import table with context %}
{% call(r) table("things", ["col.name", "~col.actions"], rows, empty, id="things") %}<tr class="row"><td>{{ r }}</td></tr>{% endcall %}"""


def _render(rows: list[Any], empty: str | None) -> str:
    return _env.from_string(SOURCE).render(t=lambda message_id, **_: f"[{message_id}]", rows=rows, empty=empty)


def test_a_row_per_item_under_the_headings() -> None:
    html = _render(["first", "second"], "things.empty")
    assert html.count('<tr class="row">') == 2
    assert "<td>first</td>" in html and "<td>second</td>" in html
    assert '<table class="outbox things" id="things">' in html
    assert '<th scope="col">[col.name]</th>' in html
    assert '<span class="visually-hidden">[col.actions]</span>' in html
    assert "[things.empty]" not in html


def test_no_rows_the_empty_message_instead_of_a_table() -> None:
    html = _render([], "things.empty")
    assert "<table" not in html
    assert '<p class="empty">[things.empty]</p>' in html


def test_no_rows_and_no_message_nothing() -> None:
    assert _render([], None).strip() == ""
