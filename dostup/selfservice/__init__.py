"""Self-service flows (registration, login, …) as persisted state machines with pluggable methods.

Flows take plain values and a :class:`~dostup.core.context.Context`, and return results; they
never see an HTTP request.  ``web/`` renders the same results as HTML pages and as JSON.
"""
