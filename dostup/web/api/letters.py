"""«Подтверждённая учётная запись» by a code in a registered letter, over JSON (SPEC §4.8, §4.14): the
customer orders the letter, cancels it before it is printed, enters its code; the operators list the letters
to print (with the codes: audited) and mark a batch printed.  Only where levels are on; elsewhere 404.

The page «Код подтверждения по почте» (``/settings/identity/letter``) posts the same :class:`LetterIn`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dostup.admin.letters import Printed, PrintPage
from dostup.selfservice.verification.letter import LetterView
from dostup.web.api.admin import OperatorDep
from dostup.web.api.schemas import _In, errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep, SessionDep

router = APIRouter(tags=["levels"], responses=errors(401, 404, 422))
URL = "/account/identity/letter"


class LetterIn(_In):
    """The address the letter goes to («Почта России»): ``postcode`` (6 digits), ``region``, ``city`` (town or
    village), ``street`` (optional), ``house``, ``flat`` (optional)."""

    postcode: Annotated[str | None, Field(max_length=32)] = None
    region: Annotated[str | None, Field(max_length=400)] = None
    city: Annotated[str | None, Field(max_length=400)] = None
    street: Annotated[str | None, Field(max_length=400)] = None
    house: Annotated[str | None, Field(max_length=100)] = None
    flat: Annotated[str | None, Field(max_length=100)] = None


class LetterCodeIn(_In):
    code: Annotated[str | None, Field(max_length=64)] = None


@router.get(URL)
async def get_letter(services: ServicesDep, rec: SessionDep) -> LetterView:
    """The latest letter (``letter.state``: ``printing``, ``sent``, ``confirmed``, ``expired``, ``exhausted``,
    ``cancelled``) and whether one may be ordered now (``may_order``: a «Стандартная» account, none waiting)."""
    return await services.letters.view(rec.account_id)


@router.post(URL, status_code=201, dependencies=[SameOrigin], responses=errors(409))
async def order_letter(body: LetterIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> LetterView:
    """Order the code by registered letter.  422 names every bad part of the address; 409 ``not_standard``
    (the profile must be checked first, or the account is confirmed already), 409 ``letter_waiting``."""
    return await services.letters.order(rec.account_id, body.model_dump(), ctx)


@router.post(URL + "/cancel", dependencies=[SameOrigin], responses=errors(409))
async def cancel_letter(ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> LetterView:
    """Withdraw the letter while it waits to be printed (409 ``letter_printed`` after)."""
    return await services.letters.cancel(rec.account_id, ctx)


@router.post(URL + "/code", dependencies=[SameOrigin], responses=errors(409))
async def enter_letter_code(body: LetterCodeIn, ctx: ApiContext, services: ServicesDep,
                            rec: SessionDep) -> LetterView:
    """The code from the letter: the account becomes «Подтверждённая».  A wrong code is 422 ``code_invalid``
    with the tries left; the fifth ends the letter (``code_exhausted``); ``code_expired`` after the term;
    409 ``letter_used``, ``letter_cancelled`` or ``letter_not_printed``."""
    return await services.letters.enter_code(rec.account_id, body.code, ctx)


# -- the operators' print queue (SPEC §4.14) ----------------------------------------------------------

class QueueIn(BaseModel):
    reason: Annotated[str | None, Field(max_length=1000, description="why: written to the audit trail")] = None


class PrintedIn(QueueIn):
    ids: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=200)] = []


@router.post("/admin/letters/queue", tags=["operator"], responses=errors(403))
async def letters_to_print(body: QueueIn, ctx: ApiContext, services: ServicesDep, staff: OperatorDep,
                           after: str | None = None) -> PrintPage:
    """The letters waiting to be printed, oldest first, 50 a page: the customer's name, the address and the
    code.  The view (which letters it showed) and its reason go to the audit trail."""
    return await services.print_queue.waiting(staff.account_id, body.reason, after, ctx)


@router.post("/admin/letters/printed", tags=["operator"], responses=errors(403))
async def letters_printed(body: PrintedIn, ctx: ApiContext, services: ServicesDep, staff: OperatorDep) -> Printed:
    """Mark a batch printed (at most 200 ids): each code's text is erased, only its hash kept; ``skipped``
    names the ids that were not waiting (printed already, cancelled, unknown).  Audited."""
    return await services.print_queue.mark_printed(staff.account_id, body.ids, body.reason, ctx)
