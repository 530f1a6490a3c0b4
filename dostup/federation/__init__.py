"""Dostup as a client of identity providers (OpenID Connect / OAuth 2.0): social sign-in now,
«подтвердить личность онлайн через банк» (levels of assurance:
``dostup.selfservice.verification.bank``).  No HTTP framework here; the flows that
use it live in ``dostup.selfservice.methods.social``."""
