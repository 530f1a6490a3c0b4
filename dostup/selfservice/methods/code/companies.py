"""The code method for confirming a company profile: the code goes to the profile's email, bound
to that profile (purpose ``company:<id>``), and is filed in the account's notification history."""

from __future__ import annotations

from dostup.accounts.companies import code_purpose
from dostup.persistence.models import Flow
from dostup.selfservice.methods.code.method import CodeStep, Delivery
from dostup.selfservice.sending import Destination

MESSAGE_KIND = "company_code"


class CompanyCode(CodeStep):
    """Implements :class:`dostup.selfservice.companies.CompanyProof` (the flow's id is the profile's)."""

    def delivery(self, flow: Flow) -> Delivery:
        return Delivery(Destination("email", str(flow.data["email"])), code_purpose(flow.id), MESSAGE_KIND,
                        account_id=flow.account_id)
