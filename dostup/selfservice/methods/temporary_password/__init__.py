"""The temporary password sent by access recovery (SPEC §4.3)."""
