"""«Личная информация»: Фамилия, Имя, Отчество, the login name and the SNILS (SPEC §4.4, §3).

Only the three name fields can be written here; identifiers have their own flows (contacts need
a code, the login must stay unique) and everything else an account holds (role, state, the time
a contact was confirmed) is never taken from a request, whatever a body carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dostup.accounts.events import record_event
from dostup.accounts.levels import (
    ACCOUNT_CHECKED,
    AccountStatus,
    account_status,
    checked_fields_changed,
    latest_verification,
    stored_level,
)
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import Conflict, FormErrors, ValidationFailed
from dostup.identity import repository as accounts
from dostup.identity.documents import parse_snils
from dostup.identity.login import normalize_login
from dostup.identity.names import parse_name
from dostup.persistence.db import Database
from dostup.persistence.models import Account

NAME_FIELDS = ("family_name", "given_name", "middle_name")


@dataclass(frozen=True, slots=True)
class ProfileView:
    family_name: str | None
    given_name: str | None
    middle_name: str | None
    phone: str | None
    phone_confirmed: bool
    email: str | None
    email_confirmed: bool
    login: str | None
    snils: str | None = None  # 11 digits
    level_lowered: bool = False  # this change lowered a checked level back to «Упрощённая» (SPEC §4.8)


def profile_view(account: Account, *, lowered: bool = False) -> ProfileView:
    return ProfileView(
        family_name=account.family_name,
        given_name=account.given_name,
        middle_name=account.middle_name,
        phone=account.phone,
        phone_confirmed=bool(account.phone and account.phone_verified_at),
        email=account.email,
        email_confirmed=bool(account.email and account.email_verified_at),
        login=account.login,
        snils=account.snils,
        level_lowered=lowered,
    )


class ProfileService:
    def __init__(self, db: Database, clock: Clock, *, email_by_link: bool = False, levels_on: bool = False) -> None:
        self.db = db
        self.clock = clock
        self.email_by_link = email_by_link  # the preset confirms the email by a link (gosuslugi)
        self.levels_on = levels_on  # the preset raises levels: the full profile and its check exist

    async def status(self, account_id: str) -> AccountStatus:
        """The account's level and what is left to complete it (the cabinet's «Статус учётной записи»)."""
        async with self.db.read() as s:
            account = await accounts.by_id(s, account_id)
            assert account is not None
            level = await stored_level(s, account_id)
            latest = await latest_verification(s, account_id) if self.levels_on else None
        return account_status(account, email_by_link=self.email_by_link, level=level, verification=latest,
                              levels_on=self.levels_on)

    async def view(self, account_id: str) -> ProfileView:
        async with self.db.read() as s:
            account = await accounts.by_id(s, account_id)
        assert account is not None
        return profile_view(account)

    async def update_names(self, account_id: str, names: Mapping[str, str | None],
                           ctx: Context | None = None) -> ProfileView:
        """Set the names given (an empty value clears one); names not given stay as they are."""
        values: dict[str, str | None] = {}
        errors: list[ValidationFailed] = []
        for name in NAME_FIELDS:
            if name not in names:
                continue
            try:
                values[name] = parse_name(names[name], field=name)
            except ValidationFailed as e:
                errors.append(e)
        if errors:
            raise FormErrors(errors)
        now = self.clock.now()
        async with self.db.write() as s:
            account = await accounts.by_id(s, account_id)
            assert account is not None
            changed = {name: value for name, value in values.items() if getattr(account, name) != value}
            for name, value in values.items():
                setattr(account, name, value)
            if values:
                account.updated_at = now
            lowered = await checked_fields_changed(s, account_id, changed, ctx or Context(), now)
        return profile_view(account, lowered=lowered)

    async def set_login(self, account_id: str, raw: str | None, ctx: Context) -> ProfileView:
        """Set or change the login; the unique constraint settles two accounts racing for one name."""
        login = normalize_login(raw)
        taken = Conflict("settings.login_taken", field="login", code="login_taken")
        return await self._set_identifier(account_id, "login", login, taken, "login_changed", ctx)

    async def set_snils(self, account_id: str, raw: str | None, ctx: Context) -> ProfileView:
        """Set or change the SNILS (checksum checked, one account per SNILS): a sign-in identifier
        where the preset offers «По СНИЛС» (gosuslugi)."""
        snils = parse_snils(raw)
        taken = Conflict("settings.snils_taken", field="snils", code="snils_taken")
        return await self._set_identifier(account_id, "snils", snils, taken, "snils_changed", ctx)

    async def _set_identifier(self, account_id: str, column: str, value: str, taken: Conflict, event: str,
                              ctx: Context) -> ProfileView:
        now = self.clock.now()
        try:
            async with self.db.write() as s:
                account = await accounts.by_id(s, account_id)
                assert account is not None
                if getattr(account, column) == value:
                    return profile_view(account)
                other = (await s.execute(select(Account.id).where(getattr(Account, column) == value))).first()
                if other is not None:
                    raise taken
                setattr(account, column, value)
                account.updated_at = now
                record_event(s, kind=event, outcome="success", ctx=ctx, now=now, account_id=account_id)
                lowered = await checked_fields_changed(s, account_id, {column: value} if column in ACCOUNT_CHECKED
                                                       else {}, ctx, now)
                await s.flush()
        except IntegrityError:
            raise taken from None
        return profile_view(account, lowered=lowered)
