"""Abuse protection: rate limits (shared store), sign-in throttling, captcha."""
