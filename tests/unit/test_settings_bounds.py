"""Settings refuse nonsense in any mode and, in production, anything weaker than SECURITY.md.

Each refusal names the ``DOSTUP_…`` variable, so an operator knows what to fix before the service starts.
"""

from __future__ import annotations

import typing
from pathlib import Path

import annotated_types
import pytest
from pydantic import BaseModel

from dostup.settings import PRODUCTION_FLOORS, Settings, SettingsError, load_settings
from tests.support import base_env


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return base_env(
        DOSTUP_ENV="production", DOSTUP_PUBLIC_URL="https://cabinet.example",
        DOSTUP_COURIER__EMAIL_PROVIDER="smtp", DOSTUP_COURIER__SMS_PROVIDER="http",
        DOSTUP_SMS__URL="https://sms.example/send", DOSTUP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/p.db",
        **extra,
    )


@pytest.mark.parametrize(("name", "value"), [
    ("DOSTUP_CODES__LENGTH", "1"),
    ("DOSTUP_PASSWORDS__MIN_LENGTH", "0"),
    ("DOSTUP_CODES__MAX_ATTEMPTS", "1000000"),
    ("DOSTUP_PASSWORDS__ARGON2_MEMORY_KIB", "0"),
    ("DOSTUP_SESSIONS__IDLE_TIMEOUT_SECONDS", "-1"),
    ("DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE", "0"),
    ("DOSTUP_SMTP__PORT", "70000"),
    ("DOSTUP_COURIER__POLL_INTERVAL_SECONDS", "0"),
    ("DOSTUP_REDIS_TIMEOUT_SECONDS", "0"),
    ("DOSTUP_SUPPORT__MAX_OPEN", "0"),
    ("DOSTUP_SUPPORT__MAX_OPEN", "101"),
    ("DOSTUP_SUPPORT__REQUESTS_PER_DAY", "0"),
    ("DOSTUP_SUPPORT__REQUESTS_PER_DAY", "many"),
])
def test_nonsense_is_refused_in_development_and_the_message_names_the_variable(tmp_path, name, value):
    with pytest.raises(SettingsError) as err:
        load_settings(base_env(**{name: value}), workdir=tmp_path)
    assert name in str(err.value)


def test_a_maximum_password_length_below_the_minimum_is_refused(tmp_path):
    with pytest.raises(SettingsError) as err:
        load_settings(base_env(DOSTUP_PASSWORDS__MIN_LENGTH="20", DOSTUP_PASSWORDS__MAX_LENGTH="10"), workdir=tmp_path)
    assert "DOSTUP_PASSWORDS__MAX_LENGTH" in str(err.value)


def _models(annotation: object) -> list[type[BaseModel]]:
    """The settings models an annotation holds: a section, an optional one, or a list of them (providers)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _sections(prefix: str = "", model: type[BaseModel] = Settings) -> list[tuple[str, type[BaseModel]]]:
    """Every section at any depth (``DOSTUP_LEVELS__ESIGN_REVOCATION__…``), a list's items under ``N__``."""
    out: list[tuple[str, type[BaseModel]]] = [(prefix, model)]
    for name, info in model.model_fields.items():
        listed = typing.get_origin(info.annotation) is list
        for inner in _models(info.annotation):
            out += _sections(f"{prefix}{name.upper()}__{'N__' if listed else ''}", inner)
    return out


def test_the_walk_reaches_nested_sections():
    assert "LEVELS__ESIGN_REVOCATION__" in {prefix for prefix, _ in _sections()}


def test_every_numeric_setting_has_a_lower_and_an_upper_bound():
    unbounded = []
    for prefix, model in _sections():
        for name, info in model.model_fields.items():
            if info.annotation not in (int, float, int | None, float | None):
                continue
            kinds = {type(m) for m in info.metadata}
            if not ({annotated_types.Ge, annotated_types.Gt} & kinds and {annotated_types.Le, annotated_types.Lt} & kinds):
                unbounded.append(f"DOSTUP_{prefix}{name.upper()}")
    assert not unbounded


def test_defaults_are_accepted_in_production(tmp_path):
    settings = load_settings(_production_env(tmp_path), workdir=tmp_path)
    assert settings.production and settings.codes.length == 6


def test_the_loose_development_values_of_the_tests_and_the_bench_are_accepted(tmp_path):
    settings = load_settings(base_env(
        DOSTUP_CAPTCHA__MAX_NUMBER="50", DOSTUP_CODES__RESEND_COOLDOWN_SECONDS="0",
        DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE="100000000", DOSTUP_CODES__SMS_DAILY_BUDGET="100000000",
        DOSTUP_LIMITS__SIGNIN_LOCK_AFTER_FAILURES="100000", DOSTUP_COURIER__POLL_INTERVAL_SECONDS="0.05",
    ), workdir=tmp_path)
    assert settings.limits.signin_per_ip_per_minute == 100_000_000


def _weaker(kind: str, limit: int) -> int:
    return limit - 1 if kind == "min" else limit + 1


@pytest.mark.parametrize(("name", "kind", "limit"), PRODUCTION_FLOORS, ids=[f[0] for f in PRODUCTION_FLOORS])
def test_production_refuses_a_value_weaker_than_security_md(tmp_path, name, kind, limit):
    variable = f"DOSTUP_{name}"
    value = _weaker(kind, limit)
    load_settings(base_env(**{variable: str(value)}), workdir=tmp_path)  # development allows it
    with pytest.raises(SettingsError) as err:
        load_settings(_production_env(tmp_path, **{variable: str(value)}), workdir=tmp_path)
    assert variable in str(err.value) and "SECURITY.md" in str(err.value)
    load_settings(_production_env(tmp_path, **{variable: str(limit)}), workdir=tmp_path)  # the document's value


@pytest.mark.parametrize(("variable", "value"), [
    ("DOSTUP_CODES__LENGTH", "4"),
    ("DOSTUP_PASSWORDS__MIN_LENGTH", "6"),
    ("DOSTUP_CODES__MAX_ATTEMPTS", "10"),
    ("DOSTUP_PASSWORDS__ARGON2_MEMORY_KIB", "8192"),
    ("DOSTUP_PASSWORDS__ARGON2_TIME_COST", "1"),
    ("DOSTUP_SESSIONS__IDLE_TIMEOUT_SECONDS", "3600"),
    ("DOSTUP_SESSIONS__ABSOLUTE_TIMEOUT_SECONDS", "86400"),
    ("DOSTUP_SESSIONS__REAUTH_WINDOW_SECONDS", "3600"),
    ("DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE", "100"),
    ("DOSTUP_LIMITS__SIGNIN_CAPTCHA_AFTER_FAILURES", "50"),
])
def test_production_refuses_the_weakenings_named_in_the_issue(tmp_path, variable, value):
    with pytest.raises(SettingsError) as err:
        load_settings(_production_env(tmp_path, **{variable: value}), workdir=tmp_path)
    assert variable in str(err.value)


def test_the_bench_settings_are_accepted_in_development(tmp_path):
    """bench/run.py raises the abuse limits so one client IP can drive thousands of requests."""
    import ast

    source = (Path(__file__).resolve().parents[2] / "bench" / "run.py").read_text()
    node = next(n for n in ast.walk(ast.parse(source))
                if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "BENCH_ENV" for t in n.targets))
    bench_env = ast.literal_eval(node.value)
    assert "DOSTUP_CODES__PER_IP_PER_HOUR" in bench_env
    load_settings(base_env(**bench_env), workdir=tmp_path)
