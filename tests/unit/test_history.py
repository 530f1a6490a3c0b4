"""Device descriptions and masking of event details for the history pages (no database)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from dostup.accounts.history import (
    Cursor,
    _detail,
    check_paging,
    cursors,
    decode_cursor,
    describe_device,
    encode_cursor,
)
from dostup.core.errors import ValidationFailed


@pytest.mark.parametrize(("ua", "expected"), [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
     "Chrome, Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 "
     "Edg/124.0", "Edge, Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
     "Safari/605.1.15", "Safari, macOS"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "CriOS/124.0 Mobile/15E148 Safari/604.1", "Chrome, iOS"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0 YaBrowser/24.4 Mobile Safari/537.36", "Яндекс Браузер, Android"),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox, Linux"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 OPR/109.0",
     "Opera, Linux"),
    ("curl/8.5.0", "curl"),
    ("python-httpx/0.27.0", "python-httpx"),
    ("", None),
    (None, None),
    ("Mozilla/5.0", None),
    ("<script>alert(1)</script>", None),
])
def test_devices_are_described_by_browser_and_system(ua, expected):
    assert describe_device(ua) == expected


def test_event_details_show_only_allowed_fields_and_mask_phones_and_emails():
    detail = _detail({"identifier": "+79123451823", "destination": "Ivan.Petrov@example.com", "method": "phone",
                      "password": "hunter2", "code": "123456", "token": "abc", "count": 3})
    assert detail == {"identifier": "+7 *** ***-18-23", "destination": "I***@example.com", "method": "phone",
                      "count": "3"}
    assert _detail({"identifier": "+7 *** ***-18-23"}) == {"identifier": "+7 *** ***-18-23"}
    assert _detail({"identifier": "8 (912) 345-18-23"})["identifier"].endswith("1823")
    assert "912" not in _detail({"identifier": "8 (912) 345-18-23"})["identifier"]
    assert _detail(None) == {}


def test_paging_limits():
    check_paging(1)
    check_paging(100)
    for per_page in (0, -1, 101):
        with pytest.raises(ValidationFailed) as err:
            check_paging(per_page)
        assert err.value.field == "per_page"


def test_cursors_round_trip_and_refuse_anything_else():
    at = dt.datetime(2026, 12, 3, 14, 5, 6, 789)
    cursor = encode_cursor(at, "e" * 32)
    assert decode_cursor(cursor, field="before") == Cursor(at, "e" * 32)
    assert decode_cursor(encode_cursor(at.replace(microsecond=0), "x"), field="before").created_at == at.replace(
        microsecond=0)
    forged = base64.urlsafe_b64encode(b"not a time|x").decode()
    for bad in ("", "%%%", "a" * 200, forged, base64.urlsafe_b64encode(b"2026-12-03T00:00:00|").decode(),
                base64.urlsafe_b64encode("2026-12-03T00:00:00|ид".encode()).decode(), "\x00"):
        with pytest.raises(ValidationFailed) as err:
            decode_cursor(bad, field="after")
        assert err.value.field == "after" and err.value.code == "invalid_cursor", bad
    assert cursors(None, None, clamp=False) == (None, None)
    assert cursors("junk", None, clamp=True) == (None, None)
    assert cursors(cursor, cursor, clamp=True) == (None, None)
    with pytest.raises(ValidationFailed):
        cursors(cursor, cursor, clamp=False)
