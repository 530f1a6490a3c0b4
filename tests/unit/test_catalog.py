"""Every text is in the catalog, in Russian and in English."""

from __future__ import annotations

import re
from pathlib import Path

from dostup.core.i18n import Catalog

ROOT = Path(__file__).resolve().parents[2] / "dostup"
_TEMPLATE_ID = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""")
_CODE_ID = re.compile(r"""["']((?:error|login|password|phone|email|code|captcha|consent|registration|recovery|flow|reauth|session|segment|password_change|settings|history|contacts|notifications|company|companies|contracts|card)\.[a-z0-9_.]+)["']""")


def test_russian_and_english_have_the_same_ids():
    catalog = Catalog.load()
    assert catalog.ids("ru") == catalog.ids("en")
    assert len(catalog.ids("ru")) > 100


def test_every_id_used_in_templates_exists():
    catalog = Catalog.load()
    missing = set()
    for path in (ROOT / "web" / "ui" / "templates").glob("*.html"):
        for mid in _TEMPLATE_ID.findall(path.read_text()):
            if mid.endswith("_") or mid.endswith("."):  # a prefix completed at render time
                continue
            if not catalog.has(mid, "ru"):
                missing.add((path.name, mid))
    assert not missing


def test_every_message_id_used_in_code_exists():
    catalog = Catalog.load()
    missing = set()
    for path in ROOT.rglob("*.py"):
        for mid in _CODE_ID.findall(path.read_text()):
            if mid.endswith((".", ".html", ".py")):
                continue
            if not catalog.has(mid, "ru") and not any(catalog.has(k, "ru") for k in catalog.ids("ru") if k.startswith(mid + ".")):
                missing.add((path.relative_to(ROOT).as_posix(), mid))
    assert not missing


def test_courier_templates_exist_for_each_channel_they_use():
    catalog = Catalog.load()
    for kind in ("registration_code", "recovery_password", "password_changed"):
        for channel in ("sms", "email"):
            assert catalog.has(f"courier.{kind}.{channel}", "ru") and catalog.has(f"courier.{kind}.{channel}", "en")
        assert catalog.has(f"courier.{kind}.subject", "en")
