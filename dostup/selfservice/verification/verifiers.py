"""The two verifiers of the full profile (SPEC §4.8): the built-in operators' queue and an adapter for an
external registry over HTTP.

**Registry contract.**  Dostup POSTs each request (through the courier, :mod:`dostup.courier.channels.registry`)
to ``DOSTUP_LEVELS__REGISTRY_URL``::

    {"request_id": "…", "level": 2, "callback_url": "https://…/api/v1/verification/registry/callback",
     "person": {"family_name", "given_name", "middle_name", "no_middle_name", "gender", "birth_date",
                "birth_place", "citizenship", "passport_series", "passport_number", "passport_issued_on",
                "passport_division_code", "passport_issuer", "snils"}}

signed with ``X-Dostup-Timestamp`` / ``X-Dostup-Signature`` (:mod:`dostup.core.signatures`) and an
``Idempotency-Key``; a 2xx answer means accepted.  Until it goes, the message waits in the outbox with the person
as the request keeps it, the passport sealed (:mod:`dostup.core.passport`); the channel opens it as it sends.
Later the registry POSTs to ``callback_url``::

    {"request_id": "…", "decision": "approved" | "rejected", "reason": "…"}

signed the same way with the same secret.  A wrong or missing signature, or a time more than
``DOSTUP_LEVELS__CALLBACK_WINDOW_SECONDS`` away, is 401; a replay inside the window finds the request
answered already (409).  ``reason`` (≤ 300 characters) is shown to the user on a rejection.
"""

from __future__ import annotations

import datetime as dt
import json

from dostup.core.crypto import random_id
from dostup.core.errors import Unauthenticated, ValidationFailed
from dostup.core.signatures import unix_time, verify
from dostup.persistence.db import Adds
from dostup.persistence.models import OutboxMessage
from dostup.persistence.models_levels import VerificationRequest
from dostup.selfservice.verification.flow import MAX_ANSWER
from dostup.settings import LevelSettings

CALLBACK_PATH = "/api/v1/verification/registry/callback"


class OperatorQueue:
    """Built in: the request waits in ``verification_requests`` until an operator answers it
    (``dostup.admin.verifications``)."""

    name = "operator"

    def submit(self, db: Adds, request: VerificationRequest, now: dt.datetime) -> None:
        return None  # the table is the queue


class RegistryVerifier:
    name = "registry"

    def __init__(self, settings: LevelSettings, public_url: str) -> None:
        self._s = settings
        self._callback = public_url + CALLBACK_PATH

    def submit(self, db: Adds, request: VerificationRequest, now: dt.datetime) -> None:
        body = json.dumps({"request_id": request.id, "level": request.level, "callback_url": self._callback,
                           "person": request.data}, ensure_ascii=False, separators=(",", ":"))
        db.add(OutboxMessage(id=random_id(), account_id=None, channel="registry", kind="verification_request",
                             to="registry", subject="", body=body, code=None, locale="ru", status="pending",
                             attempts=0, next_attempt_at=now, created_at=now))

    def read_answer(self, body: bytes, timestamp: str | None, signature: str | None,
                    now: dt.datetime) -> tuple[str, bool, str | None]:
        """The registry's answer (request id, approved, reason) if its signature holds, else 401."""
        if not verify(self._s.registry_secret, timestamp, signature, body, now=unix_time(now),
                      window=self._s.callback_window_seconds):
            raise Unauthenticated("verification.bad_signature", code="invalid_signature")
        try:
            data = json.loads(body)
        except ValueError:
            raise ValidationFailed("verification.bad_answer", code="bad_request") from None
        if not isinstance(data, dict):
            raise ValidationFailed("verification.bad_answer", code="bad_request")
        request_id, decision, reason = data.get("request_id"), data.get("decision"), data.get("reason")
        if not isinstance(request_id, str) or not request_id:
            raise ValidationFailed("verification.bad_answer", field="request_id", code="bad_request")
        if decision not in ("approved", "rejected"):
            raise ValidationFailed("verification.bad_decision", field="decision")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_ANSWER):
            raise ValidationFailed("verification.reason_length", field="reason", params={"max": MAX_ANSWER})
        return request_id, decision == "approved", (reason or "").strip() or None
