"""Company profiles: what each kind needs, how its fields are checked, and the look-ups (SPEC §4.6).

The kit seed offers three kinds of profile, «юридическое лицо, ИП и Физическое лицо»:

- ЮЛ: name, INN (10 digits), KPP, OGRN (13), legal address, email;
- ИП: full name, INN (12), OGRNIP (15), email;
- ФЛ: full name, optional INN (12), email.

Check digits come from :mod:`dostup.identity.documents`; the email from :func:`parse_email`
(CR/LF refused, so an address can never inject a mail header).  Names and addresses keep what was
typed — quotes, «ёлочки», ``<``, ``--`` and all — and are escaped where they are shown
(SECURITY.md: bad input); only control and invisible formatting characters are refused, since they
would break a mail line, a CSV export or the way a name reads on screen.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.errors import FormErrors, ValidationFailed
from dostup.identity.documents import parse_inn, parse_kpp, parse_ogrn
from dostup.identity.email import parse_email
from dostup.persistence.models import Flow
from dostup.persistence.models_companies import Company

LEGAL = "legal"  # юридическое лицо
ENTREPRENEUR = "entrepreneur"  # индивидуальный предприниматель
INDIVIDUAL = "individual"  # физическое лицо
KINDS = (LEGAL, ENTREPRENEUR, INDIVIDUAL)

MAX_TEXT = 300
_ID = re.compile(r"[0-9a-f]{24}")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@dataclass(frozen=True, slots=True)
class CompanyInput:
    """The form as typed; fields that the chosen kind does not use are ignored."""

    kind: str | None = None
    name: str | None = None
    inn: str | None = None
    kpp: str | None = None
    ogrn: str | None = None
    ogrnip: str | None = None
    address: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedCompany:
    kind: str
    name: str
    inn: str | None
    kpp: str | None
    ogrn: str | None  # OGRN for ЮЛ, OGRNIP for ИП
    address: str | None
    email: str


def new_company_id() -> str:
    """96 random bits in 24 hex digits: short enough that ``company:<id>`` fits a code's purpose."""
    return secrets.token_hex(12)


CONFIRMATION_FLOW = "company_confirmation"
"""The kind of a profile's confirmation flow; the flow's id is the profile's."""


def code_purpose(company_id: str) -> str:
    """The purpose of the company's email code: a code confirms this profile and no other."""
    return f"company:{company_id}"


def parse_text(raw: str | None, *, field: str, required_id: str) -> str:
    """A name or an address: at most 300 characters, stored as typed (outer spaces trimmed)."""
    value = (raw or "").strip()
    if not value:
        raise ValidationFailed(required_id, field=field, code="required")
    if len(value) > MAX_TEXT:
        raise ValidationFailed("company.too_long", field=field, code="too_long", params={"max": MAX_TEXT})
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in value) or not any(ch.isalnum() for ch in value):
        raise ValidationFailed("company.text_invalid", field=field)
    return value


def parse_company(inp: CompanyInput) -> ParsedCompany:
    """Check every field the kind needs and report all problems at once (:class:`FormErrors`)."""
    kind = inp.kind or ""
    if kind not in KINDS:
        raise ValidationFailed("company.kind_invalid", field="kind")
    errors: list[ValidationFailed] = []
    values: dict[str, str | None] = {"inn": None, "kpp": None, "ogrn": None, "address": None}

    def take(key: str, parse: Callable[[], str]) -> None:
        try:
            values[key] = parse()
        except ValidationFailed as e:
            errors.append(e)

    name_required = "company.name_required" if kind == LEGAL else "company.full_name_required"
    take("name", lambda: parse_text(inp.name, field="name", required_id=name_required))
    if kind == LEGAL:
        take("inn", lambda: parse_inn(inp.inn, length=10))
        take("kpp", lambda: parse_kpp(inp.kpp))
        take("ogrn", lambda: parse_ogrn(inp.ogrn, length=13))
        take("address", lambda: parse_text(inp.address, field="address", required_id="company.address_required"))
    elif kind == ENTREPRENEUR:
        take("inn", lambda: parse_inn(inp.inn, length=12))
        take("ogrn", lambda: parse_ogrn(inp.ogrnip, length=15, field="ogrnip"))
    elif (inp.inn or "").strip():  # ФЛ: the INN is optional, but checked when given
        take("inn", lambda: parse_inn(inp.inn, length=12))
    take("email", lambda: parse_email(inp.email))
    if errors:
        raise FormErrors(errors)
    return ParsedCompany(
        kind=kind, name=str(values["name"]), inn=values["inn"], kpp=values["kpp"], ogrn=values["ogrn"],
        address=values["address"], email=str(values["email"]),
    )


# -- look-ups (each in the caller's unit of work) ---------------------------------------------

async def owned(db: AsyncSession, account_id: str, company_id: str | None) -> Company | None:
    """The profile if it belongs to the account; another account's id is as unknown as a made-up one."""
    if not company_id or not _ID.fullmatch(company_id):
        return None
    stmt = select(Company).where(Company.id == company_id, Company.account_id == account_id)
    return (await db.execute(stmt)).scalar_one_or_none()


async def for_account(db: AsyncSession, account_id: str) -> list[Company]:
    stmt = select(Company).where(Company.account_id == account_id).order_by(Company.created_at, Company.id)
    return list((await db.execute(stmt)).scalars())


async def count_for(db: AsyncSession, account_id: str) -> int:
    stmt = select(func.count()).select_from(Company).where(Company.account_id == account_id)
    return int((await db.execute(stmt)).scalar_one())


async def inn_confirmed(db: AsyncSession, account_id: str, inn: str) -> bool:
    stmt = (select(Company.id).where(Company.account_id == account_id, Company.inn == inn)
            .where(Company.confirmed_at.is_not(None)).limit(1))
    return (await db.execute(stmt)).first() is not None


# Built once (a prebuilt statement with a bound parameter skips rebuilding the expression and its
# cache key on every call).  Served by the partial unique index (its leading column and condition).
CONFIRMED_EXISTS = (
    select(Company.id)
    .where(Company.account_id == bindparam("account_id"), Company.confirmed_at.is_not(None))
    .limit(1)
)


async def has_confirmed(db: AsyncSession, account_id: str) -> bool:
    return (await db.execute(CONFIRMED_EXISTS, {"account_id": account_id})).first() is not None


async def erase_companies(db: AsyncSession, account_id: str, now: dt.datetime) -> None:
    """An :data:`~dostup.accounts.deletion.Eraser`: a deleted account's profiles go entirely.

    They hold names, INNs and emails (personal data for ИП and ФЛ), and so do their confirmation
    flows (the email the code goes to); the security events that
    recorded them carry masked emails only and stay as the audit trail.
    """
    await db.execute(delete(Company).where(Company.account_id == account_id))
    await db.execute(delete(Flow).where(Flow.account_id == account_id, Flow.kind == CONFIRMATION_FLOW))
