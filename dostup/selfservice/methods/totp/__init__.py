"""TOTP (``dostup.credentials.totp``): a second factor, a re-authentication proof, enrolled in settings."""
