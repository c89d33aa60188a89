"""List + watch of one kind into the store: resumes from resourceVersion, relists on 410 Gone,
asks for bookmarks so an idle watch still advances its resourceVersion."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from provisioner.state.kinds import Kind
from provisioner.state.kube import KubeError
from provisioner.state.store import Store

LOG = logging.getLogger("provisioner.state")
PAGE = 500
WATCH_SECONDS = 240


class Gone(Exception):
    """The resourceVersion we watch from is too old (HTTP 410 or an ERROR event with code 410)."""


class Reflector:
    def __init__(self, kube: Any, kind: Kind, store: Store, stop: threading.Event,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.kube = kube
        self.kind = kind
        self.store = store
        self.stop = stop
        self.resource_version = ""
        self.relists = 0
        self.bookmarks = 0
        self._stream: Any = None
        self._sleep = sleep or stop.wait
        self._thread: threading.Thread | None = None

    def start(self) -> "Reflector":
        self._thread = threading.Thread(target=self.run, name=f"reflector-{self.kind.name}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        stream = self._stream
        if stream is not None:
            stream.close()

    def join(self, timeout: float = 5.0) -> None:
        if self._thread:
            self._thread.join(timeout)

    def run(self) -> None:
        backoff = 0.2
        while not self.stop.is_set():
            try:
                if not self.resource_version:
                    self.list()
                self.watch_once()
                backoff = 0.2
            except _Retry:
                continue
            except Gone:
                LOG.info("watch %s: resourceVersion %s expired, relisting", self.kind.name, self.resource_version)
                self.resource_version = ""
            except Exception as err:  # noqa: BLE001 - network, apiserver restart: retry with backoff
                if self.stop.is_set():
                    return
                LOG.warning("watch %s failed: %s; retrying in %.1fs", self.kind.name, err, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def list(self) -> None:
        items: list[dict] = []
        cont = None
        while True:
            status, data = self.kube.request("GET", self.kind.path, query={"limit": PAGE, "continue": cont})
            if status == 404 and self.kind.optional:
                self.store.replace(self.kind.name, [])
                self.resource_version = ""
                self._sleep(2.0)  # the CRD is not installed yet: look again shortly
                raise _Retry()
            if status == 410:  # continue token expired mid-list
                items, cont = [], None
                continue
            if status >= 300:
                raise KubeError(status, f"list {self.kind.path}: HTTP {status}")
            items += [self.kind.slim(o) for o in data.get("items") or ()]
            cont = (data.get("metadata") or {}).get("continue")
            if not cont:
                break
        self.store.replace(self.kind.name, items)
        self.resource_version = data["metadata"].get("resourceVersion", "")
        self.relists += 1

    def watch_once(self) -> None:
        stream = self.kube.watch(self.kind.path, {"resourceVersion": self.resource_version,
                                                  "allowWatchBookmarks": "true"}, WATCH_SECONDS)
        if stream.status == 410:
            raise Gone()
        if stream.status >= 300:
            raise KubeError(stream.status, f"watch {self.kind.path}: HTTP {stream.status} {stream.error_body()}")
        self._stream = stream
        try:
            for event in stream:
                if self.stop.is_set():
                    return
                self.handle(event)
        finally:
            self._stream = None
            stream.close()

    def handle(self, event: dict) -> None:
        etype, obj = event.get("type"), event.get("object") or {}
        if etype == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise KubeError(int(obj.get("code") or 500), f"watch {self.kind.path}: {obj.get('message')}")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if etype == "BOOKMARK":
            self.bookmarks += 1
        elif etype in ("ADDED", "MODIFIED", "DELETED"):
            self.store.apply(self.kind.name, etype, self.kind.slim(obj))
        if rv:
            self.resource_version = rv


class _Retry(Exception):
    pass


def start_all(kube: Any, kinds: tuple[Kind, ...], store: Store, stop: threading.Event) -> list[Reflector]:
    return [Reflector(kube, k, store, stop).start() for k in kinds]


def wait_synced(store: Store, kinds: tuple[Kind, ...], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    names = tuple(k.name for k in kinds)
    while not store.synced(names):
        if time.monotonic() > deadline:
            return False
        store.wait_for_change(store.generation, 0.2)
    return True
