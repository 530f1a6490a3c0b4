"""Health checks for a load balancer: ``/health`` (the process answers) and ``/health/ready`` (it can serve:
the database and the limits' store answer), on both backends.  Their 503 during an outage is in
tests/resilience/test_database_outage.py."""

from __future__ import annotations


async def test_liveness_and_readiness_answer_without_a_session(client, services):
    alive = await client.get("/health")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    assert alive.headers["cache-control"] == "no-store"
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    limits = "redis" if services.settings.redis_url else "database"
    assert ready.json() == {"status": "ready", "database": "ok", "limits": limits}
    assert ready.headers["cache-control"] == "no-store"
    assert "set-cookie" not in ready.headers and "set-cookie" not in alive.headers


async def test_the_checks_are_documented_and_change_nothing(client):
    spec = (await client.get("/api/openapi.json")).json()
    assert set(spec["paths"]["/health/ready"]) == {"get"} and "503" in spec["paths"]["/health/ready"]["get"]["responses"]
    assert (await client.post("/health/ready")).status_code == 405
