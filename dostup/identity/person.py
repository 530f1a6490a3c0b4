"""The person behind a «Стандартная учётная запись» (the gosuslugi seed, SPEC §4.8): what each field of the
full profile may hold.

«Добавьте отчество, пол, дату и место рождения, гражданство. Введите … паспортные данные и номер СНИЛС»;
«Фамилия и имя будут уже указаны, останется ввести отчество при его наличии. В противном случае необходимо
поставить отметку напротив фразы "Нет отчества"»; «паспортные данные, включая серию, номер, дату выдачи,
код подразделения и информацию о ведомстве, выдавшем документ».

Names go through :func:`dostup.identity.names.parse_name`, passport numbers, the division code and the SNILS
through :mod:`dostup.identity.documents`.  Dates are ISO (``2001-02-03``, what ``<input type="date">``
posts) or as Russians write them (``03.02.2001``).  A passport is issued at 14 at the earliest, never
before its holder's birth plus 14 years, never in the future.  Every problem of a form is reported at
once (:class:`FormErrors`), and nothing is written unless every field is right.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import cache

from dostup.core.errors import FormErrors, ValidationFailed
from dostup.identity.documents import parse_department_code, parse_passport, parse_snils
from dostup.identity.names import parse_name

GENDERS = ("male", "female")
PASSPORT_AGE = 14  # years: a Russian passport is issued from 14
OLDEST = dt.date(1900, 1, 1)
MAX_TEXT = 200
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")


@cache
def citizenships() -> tuple[str, ...]:
    """ISO 3166-1 alpha-2 codes of the countries the catalog can name (Babel's CLDR territories)."""
    from babel import Locale

    codes = [str(c) for c in Locale("ru").territories]
    return tuple(sorted(c for c in codes if len(c) == 2 and c.isalpha() and c not in ("ZZ", "EU", "UN", "EZ", "QO")))


def country_names(locale: str) -> list[tuple[str, str]]:
    """(code, name) of every country, Russia first, then by name in ``locale``."""
    from babel import Locale

    names = Locale(locale if locale in ("ru", "en") else "ru").territories
    rest = sorted((c for c in citizenships() if c != "RU"), key=lambda c: str(names.get(c, c)))
    return [(c, str(names.get(c, c))) for c in ("RU", *rest)]


@dataclass(frozen=True, slots=True)
class PersonData:
    """The full profile as checked: what is stored and what a verifier is sent."""

    family_name: str
    given_name: str
    middle_name: str | None  # None with ``no_middle_name``
    no_middle_name: bool
    gender: str  # one of GENDERS
    birth_date: dt.date
    birth_place: str
    citizenship: str  # ISO 3166-1 alpha-2
    passport_series: str  # 4 digits
    passport_number: str  # 6 digits
    passport_issued_on: dt.date
    passport_division_code: str  # NNN-NNN
    passport_issuer: str
    snils: str  # 11 digits

    def snapshot(self) -> dict[str, object]:
        """The fields as JSON values (dates ISO): what the check saw, compared with later changes."""
        return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in asdict(self).items()}


def parse_date(raw: str | None, *, field: str) -> dt.date:
    value = (raw or "").strip()
    if not value:
        raise ValidationFailed("person.date_required", field=field, code="required")
    dotted = _DOTTED.fullmatch(value)
    try:
        if dotted:
            return dt.date(int(dotted.group(3)), int(dotted.group(2)), int(dotted.group(1)))
        if len(value) == 10:
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise ValidationFailed("person.date_format", field=field)


def parse_text(raw: str | None, *, field: str, required: str, invalid: str) -> str:
    """A line of text as on the document (a place, an issuing office): letters required, no control or
    invisible characters, at most :data:`MAX_TEXT` code points."""
    value = " ".join((raw or "").split())
    if not value:
        raise ValidationFailed(required, field=field, code="required")
    if len(value) > MAX_TEXT:
        raise ValidationFailed("person.text_too_long", field=field, code="too_long", params={"max": MAX_TEXT})
    if any(unicodedata.category(ch) in _REFUSED for ch in value) or not any(ch.isalpha() for ch in value):
        raise ValidationFailed(invalid, field=field)
    return value


def _years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def parse_person(raw: Mapping[str, object], today: dt.date) -> PersonData:
    """Every field of the form checked, every problem reported (:class:`FormErrors`)."""
    errors: list[ValidationFailed] = []
    out: dict[str, object] = {}

    def text(name: str) -> str | None:
        value = raw.get(name)
        return value if isinstance(value, str) else None

    def check(name: str, parse: Callable[[], object]) -> None:
        try:
            out[name] = parse()
        except ValidationFailed as e:
            errors.append(e)

    for name in ("family_name", "given_name"):
        check(name, lambda n=name: parse_name(text(n), field=n) or _missing(n))  # type: ignore[misc]
    no_middle = raw.get("no_middle_name") is True
    out["no_middle_name"] = no_middle
    if no_middle:
        if (text("middle_name") or "").strip():
            errors.append(ValidationFailed("person.middle_name_or_none", field="middle_name"))
        out["middle_name"] = None
    else:
        check("middle_name", lambda: parse_name(text("middle_name"), field="middle_name") or _missing("middle_name"))
    gender = text("gender")
    if gender in GENDERS:
        out["gender"] = gender
    else:
        errors.append(ValidationFailed("person.gender", field="gender", code="required" if not gender else "invalid"))
    check("birth_date", lambda: parse_date(text("birth_date"), field="birth_date"))
    born = out.get("birth_date")
    if isinstance(born, dt.date) and not (OLDEST <= born <= _years_after(today, -PASSPORT_AGE)):
        errors.append(ValidationFailed("person.birth_date_range", field="birth_date", params={"age": PASSPORT_AGE}))
        born = None
    check("birth_place", lambda: parse_text(text("birth_place"), field="birth_place",
                                            required="person.birth_place_required", invalid="person.birth_place_format"))
    citizenship = (text("citizenship") or "").strip().upper()
    if citizenship in citizenships():
        out["citizenship"] = citizenship
    else:
        errors.append(ValidationFailed("person.citizenship", field="citizenship",
                                       code="required" if not citizenship else "invalid"))
    # each half on its own, so that both are reported
    check("passport_series", lambda: parse_passport(text("passport_series"), "000000")[0])
    check("passport_number", lambda: parse_passport("0000", text("passport_number"))[1])
    check("passport_issued_on", lambda: parse_date(text("passport_issued_on"), field="passport_issued_on"))
    issued = out.get("passport_issued_on")
    if isinstance(issued, dt.date):
        if issued > today:
            errors.append(ValidationFailed("person.issued_in_future", field="passport_issued_on"))
        elif isinstance(born, dt.date) and issued < _years_after(born, PASSPORT_AGE):
            errors.append(ValidationFailed("person.issued_too_early", field="passport_issued_on",
                                           params={"age": PASSPORT_AGE}))
    check("passport_division_code", lambda: parse_department_code(text("passport_division_code"),
                                                                   field="passport_division_code"))
    check("passport_issuer", lambda: parse_text(text("passport_issuer"), field="passport_issuer",
                                                required="person.passport_issuer_required",
                                                invalid="person.passport_issuer_format"))
    check("snils", lambda: parse_snils(text("snils")))
    if errors:
        raise FormErrors(errors)
    return PersonData(**out)  # type: ignore[arg-type]


_REQUIRED = {"family_name": "person.family_name_required", "given_name": "person.given_name_required",
             "middle_name": "person.middle_name_required"}


def _missing(field: str) -> str:
    raise ValidationFailed(_REQUIRED[field], field=field, code="required")
