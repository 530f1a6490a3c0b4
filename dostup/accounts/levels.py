"""The account's level («Упрощённая», «Стандартная», «Подтверждённая» учётная запись, the gosuslugi
seed) and what is left to do for it.

Every account is at the first level today (``simplified``; the OpenID Connect provider's level of
assurance 1); a later issue builds the standard and confirmed levels (passport and SNILS checks,
identity confirmation).  What this tells now: whether the simplified account is complete — where
the email is confirmed by a link, only once it is («Откройте почтовый ящик и перейдите по ссылке…
После подтверждения электронной почты регистрация упрощённой учётной записи завершится») — and
which level comes next.
"""

from __future__ import annotations

from dataclasses import dataclass

from dostup.persistence.models import Account

LEVELS = ("simplified", "standard", "confirmed")


@dataclass(frozen=True, slots=True)
class AccountStatus:
    level: str  # one of LEVELS
    complete: bool  # the level's registration is finished
    pending: tuple[str, ...]  # what is left: "email_confirmation"
    email: str | None  # where the letter went, while it is pending
    next_level: str | None


def account_status(account: Account, *, email_by_link: bool) -> AccountStatus:
    """``email_by_link``: the preset's registration ends with the email confirmed by a link (gosuslugi)."""
    pending = ("email_confirmation",) if email_by_link and account.email and not account.email_verified_at else ()
    return AccountStatus(level=LEVELS[0], complete=not pending, pending=pending,
                         email=account.email if pending else None, next_level=LEVELS[1])
