"""The passport in the full profile, sealed at rest (SECURITY.md: passport data never in URLs or logs; here,
never readable in the database either).

The five passport fields are kept together in ``identity_profiles.passport``: AES-256-GCM under a key derived
for this use only (:class:`dostup.core.crypto.Sealer`), so a copy of the database — a backup, a replica, a
dump for an analyst — holds no passport without the instance key.  A profile written before the column came
(migration 0051) still has its fields in their old columns: they are read as they are and sealed at the
profile's next save.  Nothing looks a profile up by its passport, so no column needs to stay searchable.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

from dostup.core.crypto import Keyring, Sealer
from dostup.persistence.models_levels import IdentityProfile

FIELDS = ("passport_series", "passport_number", "passport_issued_on", "passport_division_code", "passport_issuer")


class PassportSeal:
    def __init__(self, keyring: Keyring) -> None:
        self._sealer = Sealer(keyring, "identity:passport")

    def read(self, profile: IdentityProfile | None) -> dict[str, object]:
        """The passport fields as :meth:`PersonData.snapshot` has them (the date ISO); ``None`` where unset."""
        if profile is None:
            return dict.fromkeys(FIELDS)
        if profile.passport:
            return {**dict.fromkeys(FIELDS), **json.loads(self._sealer.open(profile.passport))}
        return {name: _text(getattr(profile, name)) for name in FIELDS}  # saved before the fields were sealed

    def write(self, profile: IdentityProfile, snapshot: Mapping[str, object]) -> None:
        """Seal the passport fields of ``snapshot`` into the profile, emptying the old columns."""
        values = {name: snapshot.get(name) for name in FIELDS}
        profile.passport = self._sealer.seal(json.dumps(values, ensure_ascii=False).encode())
        for name in FIELDS:
            setattr(profile, name, None)


def _text(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value
