"""Recovery codes (``dostup.credentials.recovery_codes``): a second factor, and the fallback of TOTP."""
