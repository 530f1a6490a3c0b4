"""Dostup's OpenID Connect provider beside panva's oidc-provider, in one run (issue 12 §5).

    cd bench/oidc && npm ci && cd ../..
    .venv/bin/python bench/oidc_bench.py [--rounds 3] [--seconds 5]

Both servers run here, one process each (``dostup serve`` on SQLite; ``node bench/oidc/provider.mjs``,
oidc-provider's in-memory store, or with ``--node-store redis`` the Redis adapter of its example on a
``redis-server`` this script starts, whose CPU counts as oidc-provider's), configured alike: one confidential client with
client_secret_basic, code flow with PKCE S256, scope ``openid profile phone``, RS256 ID tokens
with ``acr``, ``amr`` and ``auth_time``, 60 s codes, 300 s access tokens.  Measured with wrk,
alternating rounds (A, B, A, B …), medians:

* **token endpoint** — ``grant_type=authorization_code`` with a fresh code per request.  Codes are
  minted out of band right before each timed run (Dostup: rows written into its database by this
  script with the server's own store; oidc-provider: its ``/bench/mint``), so only the exchange is
  timed: client authentication, the code's single use, PKCE, token generation and persistence,
  the ID token's signature.  Both sides issue RFC 9068 JWT access tokens signed with ES256
  (oidc-provider: for a resource server, the only way it issues JWT access tokens;
  ``--node-access-tokens opaque`` gives its default opaque tokens instead, as runs before
  2026-12-04 measured).
* **userinfo** — ``GET`` with one bearer access token.

Differences that remain: Dostup keeps its codes and grants in SQLite, durable and shared by every
process on the file (an access token has no row; its grant is read on every userinfo, so a
revocation holds at once); oidc-provider keeps them in its process's memory (a development store:
lost on restart, one process only) or in Redis (``--node-store redis``), and does not store JWT
access tokens at all.  oidc-provider's userinfo
refuses tokens for a resource server, so its userinfo runs use an opaque access token (held in
memory); Dostup's use its JWT.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: servers, wrk, /proc accounting)

NODE_DIR = run.BENCH / "oidc"
REDIRECT = "https://rp.example/cb"
VERIFIER = "bench-verifier-bench-verifier-bench-verifier-0123"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
NODE_SECRET = "bench-secret-0123456789-bench-secret-0123456789"  # noqa: S105 - the bench client's
FORM = "application/x-www-form-urlencoded"
WRK = {"threads": 1, "conns": 32}


def mint_dostup(count: int, client_id: str) -> list[str]:
    """Write ``count`` codes into the configured database (run in the server's environment)."""
    from sqlalchemy import select

    from dostup.core.clock import SystemClock
    from dostup.core.crypto import random_token
    from dostup.oidc.provider.records import Subject
    from dostup.oidc.provider.store import GrantStore
    from dostup.persistence.db import Database
    from dostup.persistence.models import Account
    from dostup.settings import load_settings

    async def go() -> list[str]:
        settings = load_settings()
        db = Database(settings.database_url)
        now = SystemClock().now()
        try:
            async with db.read() as s:
                account_id = (await s.execute(select(Account.id).limit(1))).scalar_one()
            subject = Subject(account_id, None, now, "urn:dostup:loa:1:aal1", ("pwd",))
            codes = [random_token(32) for _ in range(count)]
            store = _BatchStore(db)
            await store.save_all(codes, client_id, subject, now, settings.oidc.code_seconds)
            return codes
        finally:
            await db.dispose()

    class _BatchStore(GrantStore):
        """GrantStore.save_code's rows (a grant and its code), in one transaction (minting is not
        what is measured; oidc-provider's mint saves a Grant and a code too)."""

        async def save_all(self, codes: list[str], client_id: str, subject: Subject, now: object, ttl: int) -> None:
            import datetime as dt

            from dostup.core.crypto import random_id, sha256_hex
            from dostup.persistence.models_oidc import OidcCode, OidcGrant

            assert isinstance(now, dt.datetime)
            async with self._db.write() as s:  # noqa: SLF001
                for i, code in enumerate(codes):
                    code_id = random_id()
                    s.add(OidcGrant(id=code_id, client_id=client_id, account_id=subject.account_id, code_id=code_id,
                                    session_id=None, scope="openid profile phone", auth_time=now, acr=subject.acr,
                                    amr="pwd", created_at=now))
                    s.add(OidcCode(id=code_id, code_hash=sha256_hex(code), client_id=client_id,
                                   account_id=subject.account_id, session_id=None, redirect_uri=REDIRECT,
                                   scope="openid profile phone", nonce=f"n-{i}", code_challenge=CHALLENGE,
                                   code_challenge_method="S256", auth_time=now, acr=subject.acr, amr="pwd",
                                   created_at=now, expires_at=now + dt.timedelta(seconds=ttl)))

    return asyncio.run(go())


def _bodies(path: Path, codes: list[str]) -> Path:
    with path.open("w") as fh:
        for code in codes:
            fh.write(urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                "code_verifier": VERIFIER}) + "\n")
    return path


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


class Side:
    def __init__(self, name: str, server: run.Server, token_path: str, userinfo_path: str, client_id: str,
                 secret: str) -> None:
        self.name, self.server, self.client_id, self.secret = name, server, client_id, secret
        self.token_url = server.base + token_path
        self.userinfo_url = server.base + userinfo_path

    def mint(self, count: int, *, jwt: bool = False) -> list[str]:
        """Fresh codes; ``jwt``: oidc-provider's are for its resource server, whose access tokens are
        JWTs (Dostup's always are)."""
        if self.name == "dostup":
            out = subprocess.run([run.PY, __file__, "--mint", str(count), "--client", self.client_id],
                                 cwd=self.server.workdir, env=self.server.env, check=True, capture_output=True,
                                 text=True)
            return list(json.loads(out.stdout))
        fmt = "&format=jwt" if jwt else ""
        status, body = run.http("POST", f"{self.server.base}/bench/mint?n={count}{fmt}", timeout=120)
        assert status == 200, body
        return list(body["codes"])

    def access_token(self) -> str:
        import httpx

        code = self.mint(1)[0]
        r = httpx.post(self.token_url, data={"grant_type": "authorization_code", "code": code,
                                             "redirect_uri": REDIRECT, "code_verifier": VERIFIER},
                       auth=(self.client_id, self.secret))
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


@dataclass
class NodeServer(run.Server):
    """oidc-provider, and the Redis server it stores in (``--node-store redis``): both are its CPU."""

    store: subprocess.Popen[bytes] | None = None

    def pids(self) -> list[int]:
        return [*super().pids(), *([self.store.pid] if self.store else [])]


def start_redis(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server missing: apt-get install -y redis-server")
    port = run.free_port()
    proc = run.spawn([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                     cwd=tmp, env=dict(os.environ), log=tmp / "redis.log")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def start_node(tmp: Path, store: str) -> NodeServer:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "oidc-provider").exists():
        raise SystemExit("node or bench/oidc/node_modules missing: cd bench/oidc && npm ci")
    redis, env = None, {**os.environ, "NODE_ENV": "production"}
    if store == "redis":
        redis, env["BENCH_REDIS_URL"] = start_redis(tmp)
    port = run.free_port()
    log = tmp / "node.log"
    proc = run.spawn([node, str(NODE_DIR / "provider.mjs"), str(port)], cwd=NODE_DIR, env=env, log=log)
    run.wait_ready(f"http://127.0.0.1:{port}/.well-known/openid-configuration", proc, log)
    return NodeServer("oidc-provider", proc, port, NODE_DIR, {}, redis)


def start_dostup(tmp: Path) -> tuple[run.Server, str, str]:
    server = run.start_dostup(tmp, "dostup")
    run.seed(server, 0, 1)
    out = subprocess.run([str(run.BIN / "dostup"), "admin", "add-client", "--name", "Bench", "--redirect-uri",
                          REDIRECT, "--scopes", "openid profile phone"], cwd=server.workdir, env=server.env,
                         check=True, capture_output=True, text=True)
    client = json.loads(out.stdout)
    return server, client["client_id"], client["client_secret"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--node-access-tokens", choices=("jwt", "opaque"), default="jwt",
                    help="oidc-provider's access tokens in the token runs (default: JWTs, like Dostup's)")
    ap.add_argument("--node-store", choices=("memory", "redis"), default="memory",
                    help="oidc-provider's store (default: its in-memory one; redis: its example's Redis adapter)")
    ap.add_argument("--mint", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--client", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mint:
        print(json.dumps(mint_dostup(args.mint, args.client)))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="dostup-oidc-bench-"))
    print(f"OIDC bench {time.strftime('%Y-%m-%d %H:%M:%S')}  cores={os.cpu_count()}  load={os.getloadavg()[0]:.2f}  "
          f"oidc-provider access tokens at the token endpoint: {args.node_access_tokens}, store: {args.node_store}")
    try:
        dostup_server, cid, secret = start_dostup(tmp)
        sides = [Side("dostup", dostup_server, "/oauth2/token", "/oauth2/userinfo", cid, secret),
                 Side("oidc-provider", start_node(tmp, args.node_store), "/token", "/me", "bench", NODE_SECRET)]
        rates: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}
        for rnd in range(args.rounds):
            for side in sides:
                per_second = 4000  # codes a second, more than either answers
                codes = side.mint(per_second * args.seconds, jwt=args.node_access_tokens == "jwt")
                res = run.wrk(side.token_url, seconds=args.seconds, bodies=_bodies(tmp / f"{side.name}.txt", codes),
                              headers={**_basic(side.client_id, side.secret), "Content-Type": FORM},
                              server=side.server, **WRK)
                bad = res.non2xx + res.socket_errors
                rates.setdefault((side.name, "token"), []).append(res.rps)
                cpu.setdefault((side.name, "token"), []).append(res.server_cpu_s / max(res.requests, 1) * 1e6)
                print(f"  round {rnd + 1} {side.name:13} token    {res.rps:8.0f}/s  non-2xx {bad}  "
                      f"server {res.server_cpu_s / res.wall_s:.2f} cores")
                token = side.access_token()
                res = run.wrk(side.userinfo_url, seconds=args.seconds, headers={"Authorization": f"Bearer {token}"},
                              server=side.server, **WRK)
                bad = res.non2xx + res.socket_errors
                rates.setdefault((side.name, "userinfo"), []).append(res.rps)
                cpu.setdefault((side.name, "userinfo"), []).append(res.server_cpu_s / max(res.requests, 1) * 1e6)
                print(f"  round {rnd + 1} {side.name:13} userinfo {res.rps:8.0f}/s  non-2xx {bad}  "
                      f"server {res.server_cpu_s / res.wall_s:.2f} cores")
        print()
        print("| endpoint | Dostup (median) | oidc-provider (median) | ratio | server CPU per request | goal |")
        print("|---|---|---|---|---|---|")
        for what in ("token", "userinfo"):
            d, n = statistics.median(rates[("dostup", what)]), statistics.median(rates[("oidc-provider", what)])
            dc, nc = statistics.median(cpu[("dostup", what)]), statistics.median(cpu[("oidc-provider", what)])
            ratio = d / n
            print(f"| {what} | {d:,.0f}/s | {n:,.0f}/s | **{ratio:.2f}** | {dc:,.0f} µs vs {nc:,.0f} µs | ≥ 1.0: "
                  f"{'PASS' if ratio >= 1.0 else 'not met'} |")
        for what in ("token", "userinfo"):
            per_round = [d / n for d, n in zip(rates[("dostup", what)], rates[("oidc-provider", what)], strict=True)]
            print(f"\n{what}: per-round ratios " + ", ".join(f"{r:.2f}" for r in per_round) + "; server CPU per "
                  "request per round " + ", ".join(f"{d:,.0f} vs {n:,.0f} µs" for d, n in zip(
                      cpu[("dostup", what)], cpu[("oidc-provider", what)], strict=True)), end="")
        print(f"\n\n(load average now {os.getloadavg()[0]:.2f})")
    finally:
        run.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
