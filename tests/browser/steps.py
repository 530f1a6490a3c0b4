"""Steps several browser walks share."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser import a11y


def sign_in_by_phone(page: Page, phone: str, password: str, path: str = "/login") -> None:
    """Open the sign-in page (checked by axe), fill the phone and the password and press «Вход»; where
    the browser lands (the cabinet, «Подтверждение входа») is the caller's to check."""
    page.goto(path)
    a11y.check(page)
    page.get_by_label("Номер телефона").fill(phone)
    page.get_by_label("Пароль", exact=True).fill(password)
    page.get_by_role("button", name="Вход", exact=True).click()
