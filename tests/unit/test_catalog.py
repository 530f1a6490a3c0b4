"""Every text is in the catalog, in Russian and in English: each id the code and templates use exists.

The ids are found by parsing the sources (``tests/unit/catalog_ids.py``), not by a list of prefixes, so a
new area's ids are checked the day they appear.  An id built at run time must be listed in ``DYNAMIC``
with the values it takes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from dostup.accounts import companies, contracts, levels, preferences, support
from dostup.admin import audit, search
from dostup.core.i18n import Catalog, MissingMessage
from dostup.presets import PRESETS
from dostup.selfservice.login.flow import IDENTIFIERS as LOGIN_METHODS
from dostup.selfservice.settings.contact_flow import CONTACTS
from tests.unit import catalog_ids
from tests.unit.catalog_ids import Use, all_uses, outbox_messages, python_uses, template_uses

# A family of ids named at run time by ``history._name``: ``<family>.<value>``, or ``<family>.other``.
FAMILIES = ("history.kind", "history.status", "history.channel", "history.event", "history.outcome", "history.amr")

# Built ids: pattern -> the values of its ``*`` (one tuple per ``*``), or None where the code asks
# ``catalog.has`` first and falls back (the fallback is then a literal id, checked like the others).
_DIGITS = ("inn", "snils", "card", "passport_series", "passport_number", "ogrn", "ogrnip")
DYNAMIC: dict[str, tuple[Iterable[str], ...] | None] = {
    "*.required": (_DIGITS,),  # identity/documents.py: _digits(…, message)
    "*.format": (_DIGITS,),
    "*.length": (("ogrn", "ogrnip"),),
    "*.checksum": (("ogrn", "ogrnip"),),
    "inn.length_*": (("10", "12"),),
    # admin/contracts.py's CSV reader, shared by the contract and the customer import
    **{f"*.import_{what}": (("contracts", "users"),) for what in ("not_utf8", "empty", "header", "malformed", "body", "too_many")},
    "users.import_*_taken": (("phone", "email", "login", "snils"),),  # admin/users_import.py
    "*.*": None,  # history._name: f"{prefix}.{value}" after catalog.has, else the family's .other
    "*.other": (FAMILIES,),
    "courier.*.*": None,  # outbox.py: checked message by message below
    "courier.*.subject": None,
    "history.detail.method.*": None,  # accounts/history.py:detail_text asks catalog.has first
    "companies.kind.*": (companies.KINDS,),
    "oidc.scope.*": (("profile", "email", "phone", "ru_documents", "offline_access"),),  # oidc_apps.html
    "companies.kind_short.*": (companies.KINDS,),
    "companies.status.*": (("confirmed", "unconfirmed"),),
    "contacts.code_for_*": (CONTACTS,),
    "contacts.notice_*": ((*CONTACTS, "changed", "removed"),),
    "contracts.kind.*": (contracts.KINDS,),
    "contracts.method.*": (contracts.PROOFS,),
    "contracts.already_linked.*": (contracts.KINDS,),
    "contracts.linked_elsewhere.*": (contracts.KINDS,),
    "login.tab_*": (LOGIN_METHODS,),
    "home.by_*": (LOGIN_METHODS,),
    "status.level.*": (levels.LEVELS,),  # _account_status.html
    # the operator console (web/ui/operator_pages.py and its templates)
    "console.by.*": (search.KINDS,),
    "console.state.*": (("active", "blocked", "deleted"),),
    "console.trail.action.*": (audit.ACTIONS,),
    "console.role.*": (("customer", "operator", "admin"),),
    "console.done.*": (("block", "unblock", "second_factor_reset", "confirm_identity", "approve", "reject"),),
    "console.person.*": (("gender", "birth_date", "birth_place", "citizenship", "passport_series", "passport_number",
                          "passport_issued_on", "passport_division_code", "passport_issuer", "snils"),),
    "services.*": ((*{i for p in PRESETS.values() for i, _ in p.services},),),  # _account_status.html: the catalogue
    "services.unlocks_*": (levels.LEVELS[1:],),
    "status.standard.*": (("tax", "doctor", "medical", "pension", "patent", "trademark"),),  # home.html: the preset's sign-in identifiers
    "preset.*.": None,  # Catalog.for_preset: overrides, checked by test_every_preset_override_replaces_a_known_id
    "second_factor.method_*": (("totp", "recovery_code"),),
    "passkeys.device.*": (("single_device", "multi_device"),),  # settings_passkeys.html
    "passkeys.attachment.*": (("platform", "cross_platform"),),  # the second factors wired in app.py
    "notifications.kind_*": (preferences.KINDS,),
    "notifications.channel_*": (preferences.CHANNELS,),
    "recovery.unknown_*": (("phone", "email"),),
    "registration.*_taken": (("phone", "email"),),
    "registration.finish_*": (sorted({p.registration for p in PRESETS.values()}),),
    "support.topic.*": (support.TOPICS,),  # support.html, support_request.html
    "support.state.*": (support.STATES,),
}


def _expand(pattern: str, values: tuple[Iterable[str], ...]) -> list[str]:
    ids = [pattern]
    for choices in values:
        ids = [i.replace("*", v, 1) for i in ids for v in choices]
    return ids


def _missing(catalog: Catalog, uses: Iterable[Use]) -> set[tuple[str, str, str]]:
    """(where, id, locale) for every id used but absent; a built id with no DYNAMIC entry is reported too."""
    missing = set()
    for use in uses:
        if use.built:
            if use.text not in DYNAMIC:
                missing.add((use.where, use.text, "DYNAMIC"))
                continue
            values = DYNAMIC[use.text]
            ids = _expand(use.text, values) if values is not None else []
        elif use.text in FAMILIES:
            ids = [use.text + ".other"]
        else:
            ids = [use.text]
        missing |= {(use.where, i, lang) for i in ids for lang in ("ru", "en") if not catalog.has(i, lang)}
    return missing


def test_russian_and_english_have_the_same_ids():
    catalog = Catalog.load()
    assert catalog.ids("ru") == catalog.ids("en")
    assert len(catalog.ids("ru")) > 100


def test_the_scan_finds_ids_of_every_kind_of_use():
    """Guards the scanner itself: error classes, errors raised with an id, keyword ids, templates."""
    found = {u.text for u in all_uses()}
    assert {"error.generic", "login.invalid_credentials", "contracts.too_many", "consent.marketing",
            "registration.title", "field.phone", "history.pager.label", "companies.notice_confirmed",
            "registration.*_taken", "companies.kind.*"} <= found
    assert len(found) > 400


def test_every_id_used_in_code_and_templates_exists_in_russian_and_english():
    assert not _missing(Catalog.load(), all_uses())


def test_an_unknown_id_in_code_or_a_template_fails_the_check(tmp_path: Path):
    catalog = Catalog.load()
    module = tmp_path / "module.py"
    module.write_text('from x import ValidationFailed\nraise ValidationFailed("password.no_such_text")\n'
                      'msg = f"registration.nowhere_{kind}"\n')
    template = tmp_path / "page.html"
    template.write_text('<p>{{ t("cabinet.no_such_title") }}</p><p>{{ t("cabinet.nope_" ~ x) }}</p>\n')
    base = catalog_ids.ROOT.parent
    catalog_ids.ROOT = tmp_path  # where() is relative to it
    try:
        uses = [*python_uses(module), *template_uses(template)]
    finally:
        catalog_ids.ROOT = base / "dostup"
    found = {(text, kind) for _, text, kind in _missing(catalog, uses)}
    assert {("password.no_such_text", "ru"), ("password.no_such_text", "en"), ("registration.nowhere_*", "DYNAMIC"),
            ("cabinet.no_such_title", "ru"), ("cabinet.nope_*", "DYNAMIC")} <= found


def test_every_queued_message_has_its_text_for_each_channel_it_uses():
    catalog = Catalog.load()
    missing = set()
    for where, kind, channels in outbox_messages():
        if kind is None:
            missing.add((where, "kind is not a constant the scan can read"))
            continue
        for channel in channels:
            ids = [f"courier.{kind}.{channel}"] + ([f"courier.{kind}.subject"] if channel == "email" else [])
            missing |= {(where, f"{i} ({lang})") for i in ids for lang in ("ru", "en") if not catalog.has(i, lang)}
    assert not missing


def test_the_outbox_scan_sees_the_code_messages():
    kinds = {kind for _, kind, _ in outbox_messages()}
    assert {"registration_code", "recovery_password", "password_changed", "contact_code", "company_code"} <= kinds


def test_a_missing_id_raises_in_development_and_falls_back_to_the_generic_text_in_production(caplog):
    with pytest.raises(MissingMessage):
        Catalog.load(strict=True).text("cabinet.no_such_title", "en")
    production = Catalog.load(strict=False)
    with caplog.at_level(logging.ERROR, logger="dostup.i18n"):
        shown = production.text("cabinet.no_such_title", "en")
    assert shown == production.text("error.generic", "en") and "cabinet" not in shown
    assert "cabinet.no_such_title" in caplog.text


def test_the_service_loads_a_strict_catalog_outside_production(tmp_path):
    from dostup.services import build_services
    from tests.support import make_settings

    services = build_services(make_settings(DOSTUP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/d.db"))
    try:
        assert services.catalog.strict
    finally:
        services.hasher.close()


def test_the_percent_placeholders_agree_between_russian_and_english():
    catalog = Catalog.load()
    placeholder = re.compile(r"%\((\w+)\)")
    differ = {i for i in catalog.ids("ru")
              if set(placeholder.findall(catalog.text(i, "ru"))) != set(placeholder.findall(catalog.text(i, "en")))}
    assert not differ


def test_every_preset_override_replaces_a_known_id():
    """``preset.<name>.<id>`` (Catalog.for_preset) names a preset and an id the catalog has, in both languages."""
    catalog = Catalog.load()
    overrides = {i for i in catalog.ids("ru") if i.startswith("preset.")}
    assert overrides, "no preset wording at all"
    for message_id in overrides:
        _, preset, base = message_id.split(".", 2)
        assert preset in PRESETS, message_id
        assert catalog.has(base, "ru") and catalog.has(base, "en") and catalog.has(message_id, "en"), message_id


def test_a_preset_catalog_says_the_presets_words_and_keeps_the_others():
    base = Catalog.load(strict=True)
    sber = base.for_preset("sber")
    assert sber.text("nav.contracts") == "Карты" and base.text("nav.contracts") == "Лицевые счета"
    assert sber.text("contracts.link_title", "en") == "Link a card"
    assert sber.text("login.title") == base.text("login.title") and sber.strict
    assert base.for_preset("kit").text("nav.contracts") == "Лицевые счета"
