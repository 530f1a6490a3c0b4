"""A real HTTP SMS gateway for the hosts harness: it accepts what Dostup's generic ``http`` channel posts
(``{"to": ..., "text": ...}``), keeps every message it was given, and lists them at ``GET /messages``.

    python tests/hosts/sms_gateway.py HOST PORT

Every POST is kept, duplicates included: the tests count them.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_received: list[dict[str, object]] = []
_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        return

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - the base class's name
        length = int(self.headers.get("Content-Length") or 0)
        try:
            message = json.loads(self.rfile.read(length))
        except ValueError:
            self._answer(400, {"status": "bad json"})
            return
        with _lock:
            _received.append({"to": message.get("to"), "text": message.get("text"), "at": time.time()})
            n = len(_received)
        self._answer(200, {"status": "accepted", "id": n})

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if self.path != "/messages":
            self._answer(404, {"status": "not found"})
            return
        with _lock:
            listing = list(_received)
        self._answer(200, listing)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    print(f"sms gateway on {host}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
