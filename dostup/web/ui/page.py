"""What every cabinet page handler is given: :data:`UiPage` (the request, its services and :class:`Context`),
:data:`CabinetPage` (a signed-out browser goes to sign in and back, a temporary-password session to
«Изменить пароль»; :func:`cabinet` for the password page itself and pages that need a recent sign-in,
ASVS 6.3.x) and ``form: Form[LoginIn]``, the posted form after the CSRF check (ASVS 3.5.1), parsed into the
model the JSON API reads, so both surfaces accept the same input.  :meth:`Page.form` shows a form again
with its error: the form's page is one function, answering the GET and, after a failed post, the same page
with ``page.values`` (the form as sent) and ``page.shown`` (the error) that :meth:`Page.render` adds.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import quote

from annotated_types import MaxLen
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from dostup.core import errors as E
from dostup.core.context import Context
from dostup.core.urls import safe_return_to
from dostup.services import Services
from dostup.session.reader import SessionRecord
from dostup.session.strength import is_unrestricted
from dostup.web.api.schemas import CodeIn, _In
from dostup.web.deps import get_services, make_context, optional_session
from dostup.web.errors import Respond, error_headers, status_for
from dostup.web.ui.render import read_form, redirect, render

M = TypeVar("M")  # a pydantic model or dataclass
Show = Callable[[], Response | Awaitable[Response]]
CHANGE_PASSWORD_PATH = "/settings/password"  # noqa: S105 - a URL path


@dataclass(slots=True)
class Page:
    request: Request
    services: Services
    ctx: Context
    values: dict[str, str] | None = None  # after a failed post: the form as it was sent
    shown: dict[str, Any] = field(default_factory=dict)  # after a failed post: the error (see shown_for)

    def render(self, template: str, **context: Any) -> HTMLResponse:
        shown = {**context, **self.shown}
        return render(self.request, template, shown.pop("status", 200), shown.pop("headers", None), **shown)

    def return_to(self, value: str | None) -> str | None:
        """``value`` if it is an address of ours to come back to (no open redirect), else ``None``."""
        return safe_return_to(value, self.services.csrf.origins)

    def query(self, name: str) -> str:
        return self.request.query_params.get(name, "")

    def flag(self, name: str) -> bool:
        """``?saved=1`` and the like: a notice after a redirect."""
        return self.query(name) == "1"

    def shown_for(self, exc: E.DostupError) -> dict[str, Any]:
        """What a form page needs to show ``exc``: field → message, a general message, status, headers."""
        fields: dict[str, str] = {}
        general: list[str] = []
        for err in exc.errors if isinstance(exc, E.FormErrors) else [exc]:
            text = self.services.catalog.text(err.message_id, self.ctx.locale, **err.params)
            if err.field:
                fields.setdefault(err.field, text)
            else:
                general.append(text)
        return {"errors": fields, "form_message": " ".join(general), "failure": exc, "status": status_for(exc),
                "headers": error_headers(exc)}

    @asynccontextmanager
    async def form(self, show: Show, form: Posted[M]) -> AsyncIterator[M]:
        """Parse the form and run the block; on a :class:`DostupError` answer ``show()``, the form's page.

        When the form cannot be shown again (its flow is over or gone), the error's own page answers.
        """
        try:
            yield form.parse()
        except E.DostupError as exc:
            self.values, self.shown = form.values, self.shown_for(exc)
            try:
                response = show()
                response = await response if inspect.isawaitable(response) else response
            except E.DostupError:
                raise exc from None
            raise Respond(response) from None


async def _page(request: Request) -> Page:
    return Page(request, get_services(request), make_context(request, "ui"))


UiPage = Annotated[Page, Depends(_page)]


def _go(path: str, return_to: str) -> Respond:
    return Respond(redirect(f"{path}?return_to=" + quote(return_to, safe="/")))


def cabinet(*, back: str | None = None, reauth_back: str | None = None, restricted_ok: bool = False,
            recent: bool = False) -> Any:
    """The session for a cabinet page, or a :class:`Respond` with the redirect the browser must follow.

    ``back``/``reauth_back``: where to return after signing in / re-authenticating (default: this page).
    """

    async def guard(request: Request) -> SessionRecord:
        rec = await optional_session(request)
        if rec is None:
            raise _go("/login", back or request.url.path)
        if not restricted_ok and not is_unrestricted(rec):
            raise Respond(redirect(CHANGE_PASSWORD_PATH))
        if recent and not get_services(request).reauth.is_recent(rec):
            raise _go("/reauth", reauth_back or request.url.path)
        return rec

    return Depends(guard)


CabinetPage = Annotated[SessionRecord, cabinet()]
RecentPage = Annotated[SessionRecord, cabinet(recent=True)]


class Posted(Generic[M]):
    """A posted form: its raw ``values`` (shown again on an error) and the model it parses into."""

    def __init__(self, model: type[M], values: dict[str, str]) -> None:
        self.model = model
        self.values = values

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def parse(self) -> M:
        """Read the form as a browser means it: a ticked checkbox sends ``on`` (anything else is no tick), an
        empty field is ``None`` where that is the default, and a long one is cut to the model's limit as
        ``maxlength`` would; what pydantic still refuses becomes field errors."""
        data: dict[str, Any] = {}
        fields: dict[str, FieldInfo] = self.model.__pydantic_fields__  # type: ignore[attr-defined]
        for name, value in self.values.items():
            spec = fields.get(name)
            if spec is None:
                data[name] = value
            elif spec.annotation is bool:
                data[name] = value == "on"
            elif value or spec.default is not None:
                limit = next((m.max_length for m in spec.metadata if isinstance(m, MaxLen)), None)
                data[name] = value[:limit] if limit else value
            else:
                data[name] = None
        try:
            return self.model.__pydantic_validator__.validate_python(data)  # type: ignore[attr-defined, no-any-return]
        except ValidationError as exc:
            raise E.FormErrors([E.ValidationFailed("error.bad_request", code="bad_request",
                                                   field=str(err["loc"][0]) if err["loc"] else None)
                                for err in exc.errors()]) from None


class Form(Posted[M]):
    """``form: Form[LoginIn]`` in a page handler: the posted form, CSRF checked, that parses into ``LoginIn``."""

    def __class_getitem__(cls, model: Any) -> Any:
        async def read(request: Request) -> Posted[Any]:
            return Posted(model, await read_form(request))

        return Annotated[Posted[model], Depends(read)]


CHECKED = Depends(read_form)  # a post without fields still carries the CSRF token


class NoFieldsIn(_In):
    """A form that posts nothing but its CSRF token (a button: «Отменить», «Получить заявление» …)."""


class FlowIn(_In):
    flow: str = ""


class FlowCodeIn(CodeIn):
    flow: str = ""
