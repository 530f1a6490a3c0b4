"""The only package that imports FastAPI/Starlette: pages, JSON API, errors, CSRF, headers."""
