"""Operator and administrator use-cases."""
