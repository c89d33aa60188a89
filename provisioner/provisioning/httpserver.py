"""/metrics, /healthz and /readyz on one small HTTP server (its own thread)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from provisioner.provisioning.metrics import Metrics

Check = Callable[[], tuple[bool, str]]


class HealthServer:
    def __init__(self, host: str, port: int, metrics: Metrics, healthy: Check, ready: Check) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                if self.path.startswith("/metrics"):
                    self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
                    return
                check = {"/healthz": healthy, "/readyz": ready}.get(self.path.split("?")[0])
                if check is None:
                    self._send(404, b"not found\n", "text/plain")
                    return
                ok, detail = check()
                self._send(200 if ok else 503, json.dumps({"ok": ok, "detail": detail}).encode(), "application/json")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="health", daemon=True)
        outer._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
