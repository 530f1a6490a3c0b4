"""Methods: the ways of proving something, one package each, one file per flow it serves.

A flow (login, re-authentication, settings …) declares the protocol its methods implement and
imports none of them; ``dostup.services`` wires each method into the flows it serves.  Adding a method
is its package, a migration if it stores something, templates, schemas and a line of wiring
(``recovery_code`` shows it).
"""
