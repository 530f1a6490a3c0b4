"""Delivery of SMS and email through a transactional outbox (SPEC §6)."""
