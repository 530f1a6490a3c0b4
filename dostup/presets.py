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
    signin_methods: tuple[str, ...] = ("phone", "login")
    captcha_always_on: tuple[str, ...] = ("login",)
    registration_captcha: bool = True
    recovery_by_email: bool = False
    registration: str = "kit"  # which form: kit, rostelecom, gosuslugi, sber
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
        signin_methods=("phone", "login"),
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
        signin_methods=("phone", "email", "login"),
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
        signin_methods=("phone", "email", "snils"),
        captcha_always_on=(),
        recovery_by_email=True,
        registration="gosuslugi",
    ),
    "sber": Preset(
        name="sber",
        product_name="СберБанк Онлайн",
        operator_names=("sber", "sberbank", "сбер", "сбербанк", "dostup"),
        support_phone="900",
        policy_url="/docs/policy",
        rules_url="/docs/rules",
        agreement_url="/docs/agreement",
        signin_methods=("login", "card"),
        captcha_always_on=(),
        recovery_by_email=True,
        registration="sber",
        contracts=True,
    ),
}


def get_preset(name: str) -> Preset:
    return PRESETS[name]
