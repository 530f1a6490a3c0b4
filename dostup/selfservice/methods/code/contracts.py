"""The code method for linking a contract or card: the code goes by SMS to the phone the registry
has for it.  A number the registry does not know (or knows without a mobile) gets an undeliverable
code whose sending limits count on the number's keyed hash, so not even a cool-down tells."""

from __future__ import annotations

from dostup.persistence.models import Flow
from dostup.selfservice.methods.code.method import CodeStep, Delivery
from dostup.selfservice.sending import Destination

PURPOSE = "contract_link"
MESSAGE_KIND = "contract_link_code"


class ContractCode(CodeStep):
    """Implements :class:`dostup.selfservice.contracts.OwnershipProof`."""

    def delivery(self, flow: Flow) -> Delivery:
        data = flow.data
        # No account on the message: the linking account's notification history would otherwise
        # show (masked) that a real contract with a phone on file was found.
        params = {"number": str(data["masked"])}
        if data.get("decoy"):
            key = str(data["key"])
            return Delivery(Destination("sms", key), PURPOSE, MESSAGE_KIND, params=params, deliverable=False,
                            limits=Destination("decoy", key))
        return Delivery(Destination("sms", str(data["to"])), PURPOSE, MESSAGE_KIND, params=params)
