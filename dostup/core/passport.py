"""The five passport fields of a person, sealed as one value (SECURITY.md: passport data never in URLs or logs;
here, never readable in the database either).

Two places keep a passport: the full profile (``identity_profiles.passport``) and a check still waiting for its
verifier (``verification_requests.data``: the operators compare it with the documents, the registry adapter sends
it).  Each seals it with AES-256-GCM under a key derived for its use only (:class:`dostup.core.crypto.Sealer`,
:data:`PROFILE` and :data:`CHECK`), so a value copied from one place does not open in the other, and a copy of the
database — a backup, a replica, a dump for an analyst — holds no passport without the instance key.

Here, and not beside the flows, because three layers read or write the same shape: the flows (the customer's
form, the check's answer, the registry adapter), the operators' queue (``dostup.admin``, which imports no flow)
and housekeeping, which seals what was written before (``dostup.persistence.reseal``, built by the courier's
process, which loads no flow either).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from dostup.core.crypto import Keyring, Sealer

FIELDS = ("passport_series", "passport_number", "passport_issued_on", "passport_division_code", "passport_issuer")
PROFILE = "identity:passport"  # the profile's column (migration 0051)
CHECK = "verification:passport"  # a waiting check's ``data``
SEALED = "passport"  # the key of the sealed fields in a check's ``data`` (no field of the person has that name)


class PassportSealer:
    """Seals and opens the five fields for one use (:data:`PROFILE` or :data:`CHECK`)."""

    def __init__(self, keyring: Keyring, purpose: str) -> None:
        self._sealer = Sealer(keyring, purpose)

    def seal(self, values: Mapping[str, object]) -> str:
        """The five fields of ``values`` (``None`` where missing) as one sealed text."""
        fields = {name: values.get(name) for name in FIELDS}
        return self._sealer.seal(json.dumps(fields, ensure_ascii=False).encode())

    def open(self, sealed: str) -> dict[str, object]:
        return {**dict.fromkeys(FIELDS), **json.loads(self._sealer.open(sealed))}

    def seal_within(self, data: Mapping[str, object]) -> dict[str, object]:
        """``data`` (a person as :meth:`PersonData.snapshot` has it) with its passport fields taken out and sealed
        under :data:`SEALED`; the rest as it is."""
        out = {k: v for k, v in data.items() if k not in FIELDS}
        out[SEALED] = self.seal(data)
        return out

    def open_within(self, data: Mapping[str, object]) -> dict[str, object]:
        """The person of :meth:`seal_within`'s ``data``, its passport fields back in place.  ``data`` written before
        the passport was sealed there (its fields in clear), or holding none (``{}``, an answered check's digest),
        comes back as it is."""
        sealed = data.get(SEALED)
        if not isinstance(sealed, str):
            return dict(data)
        return {**{k: v for k, v in data.items() if k != SEALED}, **self.open(sealed)}
