"""Raw JSON Kubernetes calls through the official client's ApiClient (no model objects).

The client's model classes are slow on big lists; we only need its configuration loading
(kubeconfig or in-cluster service account), TLS and auth, and a streaming response for watches.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Mapping


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class KubeClient:
    def __init__(self, kubeconfig: str | Path | None = None, timeout: float = 30.0) -> None:
        from kubernetes import client, config

        cfg = client.Configuration()
        if kubeconfig:
            config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
        else:
            config.load_incluster_config(client_configuration=cfg)
        cfg.connection_pool_maxsize = 16
        self.api = client.ApiClient(configuration=cfg)
        self.timeout = timeout

    def _send(self, method: str, path: str, body: Any, query: Mapping[str, Any] | None, content_type: str,
              timeout: Any) -> Any:
        params = self.api.param_serialize(
            method, path, query_params=[(k, v) for k, v in (query or {}).items() if v is not None], body=body,
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            auth_settings=["BearerToken"])
        return self.api.call_api(*params, _request_timeout=timeout)

    def request(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None,
                content_type: str = "application/json") -> tuple[int, Any]:
        """(HTTP status, decoded JSON body); never raises on an HTTP error status."""
        resp = self._send(method, path, body, query, content_type, self.timeout)
        resp.read()
        try:
            data = json.loads(resp.data) if resp.data else None
        except ValueError:
            data = {"message": resp.data[:300].decode(errors="replace")}
        return resp.status, data

    def call(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None,
             ok: tuple[int, ...] = (), content_type: str = "application/json") -> Any:
        status, data = self.request(method, path, body, query, content_type)
        if status >= 300 and status not in ok:
            msg = (data or {}).get("message", "") if isinstance(data, dict) else ""
            raise KubeError(status, f"{method} {path}: HTTP {status} {msg}".strip(), data)
        return data

    def patch_merge(self, path: str, body: Any, ok: tuple[int, ...] = ()) -> Any:
        return self.call("PATCH", path, body, ok=ok, content_type="application/merge-patch+json")

    def watch(self, path: str, query: Mapping[str, Any], timeout_seconds: int) -> "WatchStream":
        resp = self._send("GET", path, None, {**query, "watch": "true", "timeoutSeconds": timeout_seconds},
                          "application/json", (10, timeout_seconds + 30))
        return WatchStream(resp)


class WatchStream:
    """The events of one watch request, decoded line by line; `close()` ends it from another thread."""

    def __init__(self, resp: Any) -> None:
        self.resp = resp
        self.status = resp.status

    def error_body(self) -> Any:
        self.resp.read()
        try:
            return json.loads(self.resp.data)
        except ValueError:
            return None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        buf = b""
        for chunk in self.resp.response.stream(65536, decode_content=True):
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    yield json.loads(line)
        if buf.strip():
            yield json.loads(buf)

    def close(self) -> None:
        try:
            self.resp.response.shutdown() if hasattr(self.resp.response, "shutdown") else None
            self.resp.response.close()
        except Exception:  # noqa: BLE001 - closing a dead stream
            pass
