"""The yardstick: a minimal FastAPI app returning a tiny JSON body.

Served exactly like Dostup (``uvicorn --loop uvloop --http httptools --no-access-log``), so the
ratio whoami / bare measures what Dostup adds on top of the framework and the server.
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}
