"""The provider's tests run on both backends like the flows (fixtures from tests/conftest.py)."""
