"""OpenID Connect: Dostup as a provider to the company's partner sites (``provider``)."""
