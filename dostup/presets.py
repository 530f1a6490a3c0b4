"""Presets: the four seed cabinets as configurations of one engine (SPEC §2).

A preset fixes registration fields, sign-in methods, required steps and branding.  Wording that
differs by preset lives in the catalog under ``preset.<name>.*`` ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Segment:
    id: str
    label_id: str


@dataclass(frozen=True)
class Preset:
    name: str
    product_name: str
    operator_names: tuple[str, ...]
    support_phone: str
    policy_url: str
    rules_url: str
    agreement_url: str
    segments: tuple[Segment, ...] = ()
    signin_identifiers: tuple[str, ...] = ("phone", "login")  # what one signs in with (identifier kinds)
    captcha_always_on: tuple[str, ...] = ("login",)
    registration_captcha: bool = True
    recovery_by_email: bool = False
    registration: str = "kit"  # the form: a variant in dostup/selfservice/registration/variants/
    consent_version: str = "2024-01"
    # Company profiles («Список компаний», SPEC §4.6): shown in the cabinet's navigation; with
    # ``require_company`` registration is complete only once one profile is confirmed (the kit
    # seed: «Добавление компании для завершения регистрации»).  DOSTUP_REQUIRE_COMPANY overrides it.
    companies: bool = False
    require_company: bool = False
    # Linked contracts («Лицевые счета», SPEC §4.7): in the signed-in navigation; ``prominent`` also
    # puts «Привязать лицевой счёт» on the cabinet page (the Rostelecom seed's first step).
    contracts: bool = False
    contracts_prominent: bool = False
    # «Код для входа» (the Sberbank seed): a 5-digit passcode bound to one device.
    passcode: bool = False
    # Answer alike for known and unknown identifiers (DOSTUP_ENUMERATION_SAFE overrides it): the bank
    # does not say which card numbers it knows; the others name a taken phone, as the kit seed does.
    enumeration_safe: bool = False
    # The cabinet shows the account's level («Упрощённая учётная запись», the gosuslugi seed) and its next step.
    account_levels: bool = False
    # The service catalogue (SPEC §4.8): (id, the lowest level that may use it); names are ``services.<id>``.
    services: tuple[tuple[str, int], ...] = ()
    # The kind «Привязать …» offers first: a contract («Лицевой счёт») or a card (sber).
    contracts_kind: str = "contract"
    extras: dict[str, str] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "kit": Preset(
        name="kit",
        product_name="Личный кабинет КИТ",
        operator_names=("kit", "кит", "tk-kit", "dostup"),
        support_phone="8 800 234-59-60",
        policy_url="/docs/policy",
        rules_url="/docs/rules",
        agreement_url="/docs/agreement",
        segments=(Segment("kit", "segment.kit"), Segment("kit_retail", "segment.kit_retail")),
        signin_identifiers=("phone", "login"),
        captcha_always_on=("login",),
        companies=True,
        require_company=True,
    ),
    "rostelecom": Preset(
        name="rostelecom",
        product_name="Единый личный кабинет",
        operator_names=("rostelecom", "ростелеком", "rt", "dostup"),
        support_phone="8 800 100-08-00",
        policy_url="/docs/policy",
        rules_url="/docs/rules",
        agreement_url="/docs/agreement",
        signin_identifiers=("phone", "email", "login"),
        captcha_always_on=(),
        recovery_by_email=True,
        registration="rostelecom",
        contracts=True,
        contracts_prominent=True,
    ),
    "gosuslugi": Preset(
        name="gosuslugi",
        product_name="Госуслуги",
        operator_names=("gosuslugi", "госуслуги", "dostup"),
        support_phone="8 800 100-70-10",
        policy_url="/docs/policy",
        rules_url="/docs/rules",
        agreement_url="/docs/agreement",
        signin_identifiers=("phone", "email", "snils"),
        captcha_always_on=(),
        recovery_by_email=True,
        registration="gosuslugi",
        account_levels=True,
        services=(("fines", 1), ("reference", 1), ("tax", 2), ("doctor", 2), ("medical", 2), ("pension", 2),
                  ("patent", 2), ("trademark", 2), ("marriage", 3), ("subsoil", 3), ("weapons", 3)),
    ),
    "sber": Preset(
        name="sber",
        product_name="СберБанк Онлайн",
        operator_names=("sber", "sberbank", "сбер", "сбербанк", "dostup"),
        support_phone="900",
        policy_url="/docs/policy",
        rules_url="/docs/rules",
        agreement_url="/docs/agreement",
        signin_identifiers=("login", "card"),
        captcha_always_on=(),
        recovery_by_email=True,
        registration="sber",
        contracts=True,
        contracts_kind="card",
        passcode=True,
        enumeration_safe=True,
    ),
}


def get_preset(name: str) -> Preset:
    return PRESETS[name]
