"""The JSON API under ``/api/v1`` (OpenAPI at ``/api/openapi.json``)."""

PREFIX = "/api/v1"
