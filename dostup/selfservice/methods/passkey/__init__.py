"""Passkeys (``dostup.credentials.passkeys``): a sign-in by itself, a second step, a re-authentication."""
