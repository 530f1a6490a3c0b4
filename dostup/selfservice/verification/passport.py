"""The passport in the full profile, sealed at rest (SECURITY.md: passport data never in URLs or logs; here,
never readable in the database either).

The five passport fields are kept together in ``identity_profiles.passport``: AES-256-GCM under a key derived
for this use only (:mod:`dostup.core.passport`), so a copy of the database — a backup, a replica, a dump for an
analyst — holds no passport without the instance key.  A profile written before the column came (migration
0051) still has its fields in their old columns: they are read as they are, and sealed at the profile's next
save or by housekeeping, whichever comes first (:mod:`dostup.persistence.reseal`).  Nothing looks a profile up
by its passport, so no column needs to stay searchable.

A check still waiting keeps its copy of the person with the passport sealed the same way under a key of its own
(:attr:`PassportSeal.check`): the submission seals it, the registry adapter, the operators' queue and the answer's
digest open it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from dostup.core.crypto import Keyring
from dostup.core.passport import CHECK, FIELDS, PROFILE, PassportSealer
from dostup.persistence.models_levels import IdentityProfile


class PassportSeal:
    def __init__(self, keyring: Keyring) -> None:
        self._sealer = PassportSealer(keyring, PROFILE)
        self.check = PassportSealer(keyring, CHECK)  # a waiting check's copy of the person

    def read(self, profile: IdentityProfile | None) -> dict[str, object]:
        """The passport fields as :meth:`PersonData.snapshot` has them (the date ISO); ``None`` where unset."""
        if profile is None:
            return dict.fromkeys(FIELDS)
        if profile.passport:
            return self._sealer.open(profile.passport)
        return {name: _text(getattr(profile, name)) for name in FIELDS}  # saved before the fields were sealed

    def write(self, profile: IdentityProfile, snapshot: Mapping[str, object]) -> None:
        """Seal the passport fields of ``snapshot`` into the profile, emptying the old columns."""
        profile.passport = self._sealer.seal(snapshot)
        for name in FIELDS:
            setattr(profile, name, None)


def _text(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value
