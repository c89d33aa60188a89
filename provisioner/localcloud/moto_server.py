"""Entry point of the local EC2 child process: patch moto, serve it on 127.0.0.1, report the port.

    python -m provisioner.localcloud.moto_server --port-file PATH [--host 127.0.0.1] [--port 0]

The server binds the requested port (0 = any free one) and then writes `{"pid", "port"}` to the
port file (atomically), so the parent never races for a port. SIGTERM/SIGINT shut it down.
Besides moto's API it serves the capacity control API under /_provisioner/capacity.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Iterable

from provisioner.localcloud.capacity import CONTROL_PATH, CapacityError, CapacityRegistry

REGISTRY = CapacityRegistry()

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def _json_response(start_response: Callable, status: str, body: object) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def control_app(inner: WSGIApp, registry: CapacityRegistry) -> WSGIApp:
    """Serve the capacity control API in front of moto's WSGI app."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").rstrip("/") != CONTROL_PATH:
            return inner(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET":
            return _json_response(start_response, "200 OK", {"errors": [e.to_json() for e in registry.list()]})
        if method == "DELETE":
            registry.clear()
            return _json_response(start_response, "200 OK", {"errors": []})
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
                items = payload if isinstance(payload, list) else [payload]
                errors = [CapacityError.from_json(item) for item in items]
            except (ValueError, TypeError, AttributeError) as err:
                return _json_response(start_response, "400 Bad Request", {"message": str(err)})
            for error in errors:
                registry.add(error)
            return _json_response(start_response, "200 OK", {"errors": [e.to_json() for e in registry.list()]})
        return _json_response(start_response, "405 Method Not Allowed", {"message": method})

    return app


def serve(host: str, port: int, port_file: Path) -> None:
    os.environ.setdefault("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
    os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")

    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from provisioner.localcloud import capacity_patch

    capacity_patch.install(REGISTRY)
    app = control_app(DomainDispatcherApplication(create_backend_app), REGISTRY)
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)

    def shutdown(signum: int, frame: object) -> None:
        # serve_forever() runs on this thread; shutdown() blocks until it returns, so call it elsewhere.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)

    tmp = port_file.with_suffix(port_file.suffix + ".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "port": server.server_address[1]}))
    tmp.replace(port_file)
    print(f"local EC2 (moto) serving on http://{host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        print("local EC2 stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="provisioner.localcloud.moto_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
