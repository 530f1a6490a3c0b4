"""Raising the account's level: the full profile checked by a verifier (SPEC §4.8)."""
