"""Sessions: issue, look up, rotate, revoke (SECURITY.md: sessions and web)."""
