"""Registration through a provider: nothing is linked yet, so the preset's form opens prefilled
with what the provider said (name, email, phone), without a password; consents are given as
always, and the contact is confirmed by a code unless the provider is ``trusted`` and says it
verified exactly that phone or email (and the instance is not enumeration-safe: there a taken
contact gets a decoy code step, so a free one gets a real one — ``start_external``).  The account
it creates has no password (one can be set in settings) and is linked to the provider account."""

from __future__ import annotations

from dataclasses import dataclass

from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import NotFound
from dostup.federation.providers import Identity, Provider
from dostup.persistence.db import Database
from dostup.selfservice.flows import load_flow, transition
from dostup.selfservice.methods.social.service import SIGNUP
from dostup.selfservice.registration.flow import External, RegistrationInput, RegistrationView
from dostup.selfservice.registration.service import Completed, RegistrationService


@dataclass(frozen=True, slots=True)
class Signup:
    flow_id: str
    provider: Provider
    prefill: dict[str, str]


class SocialRegistration:
    def __init__(
        self, *, db: Database, clock: Clock, registration: RegistrationService, providers: dict[str, Provider]
    ) -> None:
        self._db = db
        self._clock = clock
        self._registration = registration
        self._providers = providers

    async def _load(self, flow_id: str | None) -> tuple[Identity, Provider]:
        async with self._db.read() as s:
            flow = await load_flow(s, flow_id, kind=SIGNUP, now=self._clock.now())
        identity = Identity.from_json(flow.data["identity"])  # type: ignore[arg-type]
        provider = self._providers.get(identity.provider)
        if flow.state != "claims" or provider is None:
            raise NotFound("flow.not_found")
        return identity, provider

    async def view(self, flow_id: str | None) -> Signup:
        identity, provider = await self._load(flow_id)
        prefill = {
            k: v
            for k, v in {
                "phone": identity.phone,
                "email": identity.email,
                "contact": identity.phone or identity.email,
                "given_name": identity.given_name,
                "family_name": identity.family_name,
                "middle_name": identity.middle_name,
            }.items()
            if v
        }
        return Signup(str(flow_id), provider, prefill)

    async def register(self, flow_id: str | None, inp: RegistrationInput, ctx: Context) -> Completed | RegistrationView:
        identity, provider = await self._load(flow_id)
        confirmed: tuple[str, ...] = ()
        if provider.trusted:
            confirmed = tuple(
                v
                for v, ok in ((identity.phone, identity.phone_verified), (identity.email, identity.email_verified))
                if v and ok
            )
        result = await self._registration.start_external(inp, ctx, External(identity.to_json(), confirmed))
        now = self._clock.now()
        async with self._db.write() as s:  # the provider's answer begins one registration
            flow = await load_flow(s, flow_id, kind=SIGNUP, now=now)
            await transition(s, flow, from_state="claims", to_state="used", now=now)
        return result
