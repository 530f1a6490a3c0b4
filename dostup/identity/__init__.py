"""Accounts and their identifiers: phone, email, login — parsing, normalisation, uniqueness."""
