"""The code method for registration: the code goes to the phone or email the form gave (sber: the
phone on file for the card).  Enumeration-safe registration of a taken identifier, and a card the
registry does not know, get an undeliverable code: the same step, the same counters and timers.
An unknown card's sending limits count on the card's keyed hash (the key contract linking uses),
so its cool-down answers as a known card's does."""

from __future__ import annotations

from dostup.accounts.contracts import number_key
from dostup.core.crypto import Keyring
from dostup.persistence.models import Flow
from dostup.selfservice.methods.code.method import CodeMethod, CodeStep, Delivery
from dostup.selfservice.sending import Destination

PURPOSE = "registration"
MESSAGE_KIND = "registration_code"


class RegistrationCode(CodeStep):
    """Implements :class:`dostup.selfservice.registration.flow.ContactProof`."""

    def __init__(self, method: CodeMethod, keyring: Keyring) -> None:
        super().__init__(method)
        self.keyring = keyring

    def delivery(self, flow: Flow) -> Delivery:
        data = flow.data
        dest = Destination(str(data["channel"]), str(data["to"]))
        limits = None
        if not dest.to and data.get("card"):
            limits = Destination("decoy", number_key(self.keyring, "card", str(data["card"])))
        # No account yet: the messages are filed under the account when it is created.
        return Delivery(dest, PURPOSE, MESSAGE_KIND, deliverable=not data.get("decoy"), limits=limits)
