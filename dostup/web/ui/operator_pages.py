"""«Консоль оператора» (SPEC §4.14) in the browser: the customer search, the account card with its actions
(block, unblock, second-factor reset, identity confirmed in person), the review queue of «Стандартная»
checks, the print queue of registered letters and, for administrators, an operator's audit trail — the same use-cases and input models as the staff JSON
API (``web/api/operator.py``, ``web/api/letters.py``).

Only operators and administrators signed in with two factors (``aal`` 2) get these pages; a customer gets
404 (the console is not advertised), a staff session of one factor the reason why.  Everything that shows
personal data is a POST carrying the operator's reason, which the use-case writes to the audit trail with
what was shown; the reason then travels with the page's forms, so one call's reason covers its next step.
Nothing a customer typed (a SNILS, a phone) goes into a URL.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import Field

from dostup.accounts.history import event_kind_name, outcome_name
from dostup.admin.audit import ACTIONS, operator_actions, staff_member
from dostup.admin.search import KINDS
from dostup.core.errors import Forbidden, NotFound
from dostup.session.reader import SessionRecord
from dostup.session.strength import is_unrestricted
from dostup.web.api.letters import QueueIn
from dostup.web.api.operator import ReasonIn, SearchIn
from dostup.web.deps import optional_session
from dostup.web.errors import Respond
from dostup.web.ui.page import CHANGE_PASSWORD_PATH, Form, Page, UiPage, _go
from dostup.web.ui.render import redirect

router = APIRouter(include_in_schema=False)
HOME = "/operator"
STAFF = ("operator", "admin")


async def _staff(request: Request) -> SessionRecord:
    rec = await optional_session(request)
    if rec is None:
        raise _go("/login", HOME)
    if rec.role not in STAFF:
        raise NotFound()
    if not is_unrestricted(rec):
        raise Respond(redirect(CHANGE_PASSWORD_PATH))
    if rec.strength.aal < 2:  # as the staff API: customers' data only after two factors
        raise Forbidden("staff.second_factor_required", code="second_factor_required")
    return rec


StaffPage = Annotated[SessionRecord, Depends(_staff)]


def _kinds(page: Page) -> list[tuple[str, str]]:
    return [(kind, page.services.catalog.text(f"console.by.{kind}", page.ctx.locale)) for kind in KINDS]


@router.get(HOME)
async def search_form(page: UiPage, rec: StaffPage, found: Any = None, reason: str = "") -> Response:
    return page.render("operator_search.html", session=rec, kinds=_kinds(page), found=found, reason=reason,
                       values=page.values or {"by": "phone"})


@router.post(HOME)
async def search_submit(page: UiPage, form: Form[SearchIn], rec: StaffPage) -> Response:
    async with page.form(partial(search_form, page, rec), form) as body:
        found = await page.services.account_search.find(rec.account_id, body, page.ctx)
    page.values = form.values
    return await search_form(page, rec, found=found, reason=form.get("reason"))


async def _card_page(page: Page, rec: SessionRecord, account_id: str, reason: str, done: str | None = None) -> Response:
    card = await page.services.account_actions.card(rec.account_id, account_id, reason, page.ctx)
    catalog, locale = page.services.catalog, page.ctx.locale
    events = [(e.created_at, event_kind_name(catalog, e.kind, locale), outcome_name(catalog, e.outcome, locale))
              for e in card.events]
    return page.render("operator_card.html", session=rec, card=card, events=events, reason=reason, done=done,
                       may_confirm=page.services.verification.enabled,
                       trail=rec.role == "admin" and card.role in STAFF)


@router.post(HOME + "/accounts/{account_id}")
async def card_page(account_id: str, page: UiPage, form: Form[ReasonIn], rec: StaffPage) -> Response:
    async with page.form(partial(search_form, page, rec), form) as body:
        return await _card_page(page, rec, account_id, body.reason or "")


_ACTIONS = {"block": "console.done.block", "unblock": "console.done.unblock",
            "second-factor-reset": "console.done.second_factor_reset", "confirm-identity": "console.done.confirm_identity"}


@router.post(HOME + "/accounts/{account_id}/{action}")
async def act(account_id: str, action: str, page: UiPage, form: Form[ReasonIn], rec: StaffPage) -> Response:
    if action not in _ACTIONS:
        raise NotFound()
    actions, who = page.services.account_actions, (rec.account_id, rec.role, account_id)

    def show_card() -> Any:
        return _card_page(page, rec, account_id, form.get("reason"))

    async with page.form(show_card, form) as body:
        if action == "block":
            await actions.block(*who, body.reason, page.ctx)
        elif action == "unblock":
            await actions.unblock(*who, body.reason, page.ctx)
        elif action == "second-factor-reset":
            await actions.reset_second_factor(*who, body.reason, page.ctx)
        else:
            await page.services.verification_queue.confirm_identity(*who, body.reason, page.ctx)
    return await _card_page(page, rec, account_id, body.reason or "", done=_ACTIONS[action])


async def _queue_page(page: Page, rec: SessionRecord, reason: str, done: str | None = None) -> Response:
    queue = await page.services.verification_queue.pending(rec.account_id, reason, page.query("after") or None,
                                                           page.ctx)
    return page.render("operator_queue.html", session=rec, queue=queue, reason=reason, done=done)


@router.post(HOME + "/verifications")
async def queue_page(page: UiPage, form: Form[ReasonIn], rec: StaffPage) -> Response:
    if not page.services.verification.enabled:
        raise NotFound()
    async with page.form(partial(search_form, page, rec), form) as body:
        return await _queue_page(page, rec, body.reason or "")


@router.post(HOME + "/verifications/{request_id}/{decision}")
async def decide(request_id: str, decision: str, page: UiPage, form: Form[ReasonIn], rec: StaffPage) -> Response:
    if decision not in ("approve", "reject") or not page.services.verification.enabled:
        raise NotFound()

    def show_queue() -> Any:
        return _queue_page(page, rec, form.get("reason"))

    async with page.form(show_queue, form) as body:
        await page.services.verification_queue.decide(rec.account_id, rec.role, request_id,
                                                      approved=decision == "approve", reason=body.reason, ctx=page.ctx)
    return await _queue_page(page, rec, body.reason or "", done=f"console.done.{decision}")


# -- the print queue of registered letters (SPEC §4.8, §4.14) ----------------------------------------------

_ADDRESS = ("postcode", "region", "city", "street", "house", "flat")  # as an envelope is written


class PrintedIn(QueueIn):
    """A browser posts one field per name: the letters marked printed, their ids separated by spaces."""

    letters: Annotated[str, Field(max_length=200 * 33)] = ""


async def _letters_page(page: Page, rec: SessionRecord, reason: str, done: int | None = None) -> Response:
    queue = await page.services.print_queue.waiting(rec.account_id, reason, page.query("after") or None, page.ctx)
    addresses = {item.id: ", ".join(str(item.address[part]) for part in _ADDRESS if item.address.get(part))
                 for item in queue.items}
    return page.render("operator_letters.html", session=rec, queue=queue, addresses=addresses, reason=reason, done=done)


@router.post(HOME + "/letters")
async def letters_page(page: UiPage, form: Form[QueueIn], rec: StaffPage) -> Response:
    async with page.form(partial(search_form, page, rec), form) as body:
        return await _letters_page(page, rec, body.reason or "")


@router.post(HOME + "/letters/printed")
async def letters_printed(page: UiPage, form: Form[PrintedIn], rec: StaffPage) -> Response:
    def show_queue() -> Any:
        return _letters_page(page, rec, form.get("reason"))

    async with page.form(show_queue, form) as body:
        marked = await page.services.print_queue.mark_printed(rec.account_id, body.letters.split(), body.reason,
                                                              page.ctx)
    return await _letters_page(page, rec, body.reason or "", done=len(marked.printed))


# -- an operator's audit trail, for administrators (SPEC §4.14: «who, when, why») ---------------------------

_LISTED = {"found": "console.trail.found", "letters": "console.trail.letters", "requests": "console.trail.requests"}


def _what(page: Page, detail: dict[str, object]) -> str:
    """The trail's ``detail`` in words: the search, the account, the request, how many rows were shown."""
    def t(message_id: str, **params: object) -> str:
        return page.services.catalog.text(message_id, page.ctx.locale, **params)

    parts = []
    if detail.get("by"):
        parts.append(t("console.trail.search", by=t(f"console.by.{detail['by']}"), value=detail.get("value") or ""))
    if detail.get("account"):
        parts.append(t("console.trail.account", id=detail["account"]))
    if detail.get("request"):
        parts.append(t("console.trail.request", id=detail["request"]))
    parts += [t(message_id, count=len(detail[key])) for key, message_id in _LISTED.items()  # type: ignore[arg-type]
              if isinstance(detail.get(key), list)]
    return "; ".join(parts)


@router.get(HOME + "/staff/{staff_id}/actions")
async def trail_page(staff_id: str, page: UiPage, rec: StaffPage, before: str = "") -> Response:
    """What one operator did, newest first, 50 a page: administrators only (an operator gets 403)."""
    if rec.role != "admin":
        raise Forbidden("contracts.admin_only", code="admin_only")
    who = await staff_member(page.services.db, staff_id)
    trail = await operator_actions(page.services.db, who.id, before[:200] or None)
    catalog, locale = page.services.catalog, page.ctx.locale
    lines = [(a, catalog.text(f"console.trail.action.{a.action}", locale) if a.action in ACTIONS else a.action,
              _what(page, a.detail)) for a in trail.items]
    return page.render("operator_trail.html", session=rec, who=who, lines=lines, next=trail.next)
