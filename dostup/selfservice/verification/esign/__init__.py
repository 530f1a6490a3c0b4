"""«Подтверждённая учётная запись» by a qualified electronic signature (УКЭП; SPEC §4.8, pluggable)."""
