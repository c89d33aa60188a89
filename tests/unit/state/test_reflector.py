"""List + watch with a fake API server: paging, resume from resourceVersion, bookmarks, 410 relist."""

from __future__ import annotations

import threading

from provisioner.state import kinds, view
from provisioner.state.reflector import Reflector
from provisioner.state.store import Store


def pod(name, rv, node=None, phase="Pending", unschedulable=True, **meta):
    conds = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}] if unschedulable else []
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv, "managedFields": [{}], **meta},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x", "env": [1],
                                                       "resources": {"requests": {"cpu": "1"}}}]},
            "status": {"phase": phase, "conditions": conds, "podIP": "1.2.3.4"}}


class FakeStream:
    def __init__(self, status, events):
        self.status, self.events = status, events

    def __iter__(self):
        return iter(self.events)

    def error_body(self):
        return {}

    def close(self):
        pass


class FakeKube:
    def __init__(self, pages, watches, stop):
        self.pages, self.watches, self.stop = list(pages), list(watches), stop
        self.list_calls, self.watch_calls = [], []

    def request(self, method, path, query=None):
        self.list_calls.append(dict(query))
        if not self.pages:
            self.stop.set()
            raise RuntimeError("no more pages")
        return 200, self.pages.pop(0)

    def watch(self, path, query, timeout):
        self.watch_calls.append(dict(query))
        if not self.watches:
            self.stop.set()
            return FakeStream(200, [])
        return self.watches.pop(0)


def test_pages_watch_bookmark_and_relist_on_gone():
    stop = threading.Event()
    pages = [
        {"items": [pod("a", "1")], "metadata": {"continue": "tok"}},
        {"items": [pod("b", "2")], "metadata": {"resourceVersion": "10"}},
        {"items": [pod("a", "30"), pod("c", "31")], "metadata": {"resourceVersion": "31"}},  # the relist
    ]
    watches = [
        FakeStream(200, [
            {"type": "ADDED", "object": pod("d", "11")},
            {"type": "MODIFIED", "object": pod("a", "12", node="n1", phase="Running", unschedulable=False)},
            {"type": "DELETED", "object": pod("b", "13")},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}},
        ]),
        FakeStream(200, [{"type": "ERROR", "object": {"code": 410, "message": "too old"}}]),
    ]
    kube = FakeKube(pages, watches, stop)
    store = Store()
    r = Reflector(kube, kinds.PODS, store, stop, sleep=lambda s: None)
    r.run()

    assert kube.list_calls[0]["continue"] is None and kube.list_calls[1]["continue"] == "tok"
    assert kube.watch_calls[0]["resourceVersion"] == "10"
    assert kube.watch_calls[1]["resourceVersion"] == "20"  # resumed from the bookmark
    assert kube.watch_calls[1]["allowWatchBookmarks"] == "true"
    assert kube.watch_calls[2]["resourceVersion"] == "31"  # after the relist
    assert len(kube.list_calls) == 3
    assert r.bookmarks == 1 and r.relists >= 2
    assert sorted(p["metadata"]["name"] for p in store.list("pods")) == ["a", "c"]


def test_http_410_on_watch_relists():
    stop = threading.Event()
    pages = [{"items": [pod("a", "1")], "metadata": {"resourceVersion": "5"}},
             {"items": [], "metadata": {"resourceVersion": "9"}}]
    kube = FakeKube(pages, [FakeStream(410, [])], stop)
    store = Store()
    Reflector(kube, kinds.PODS, store, stop, sleep=lambda s: None).run()
    assert [c["resourceVersion"] for c in kube.watch_calls] == ["5", "9"]
    assert store.list("pods") == []


def test_slim_pod_keeps_what_scheduling_reads_only():
    p = kinds.slim_pod(pod("a", "1"))
    assert "managedFields" not in p["metadata"]
    assert p["spec"]["containers"] == [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]
    assert "podIP" not in p["status"] and p["status"]["phase"] == "Pending"


def test_pending_means_unschedulable_unbound_not_daemonset():
    assert view.is_unschedulable(pod("a", "1"))
    assert not view.is_unschedulable(pod("a", "1", unschedulable=False))  # the scheduler has not tried yet
    assert not view.is_unschedulable(pod("a", "1", node="n1"))
    assert not view.is_unschedulable(pod("a", "1", deletionTimestamp="2026-01-01T00:00:00Z"))
    assert not view.is_unschedulable(pod("a", "1", ownerReferences=[{"kind": "DaemonSet", "name": "ds"}]))


def test_ours_and_in_flight():
    ready = {"type": "Ready", "status": "True"}
    nodes = [
        {"metadata": {"name": "web-aaaaa", "labels": {"provisioner.sh/nodepool": "web"}},
         "spec": {"providerID": "aws:///us-east-1a/i-1"}, "status": {"conditions": [ready]}},
        {"metadata": {"name": "web-bbbbb", "labels": {"karpenter.sh/nodepool": "web"}},
         "spec": {"providerID": "aws:///us-east-1a/i-2"}, "status": {"conditions": []}},
        {"metadata": {"name": "control", "labels": {}}, "spec": {}, "status": {"conditions": [ready]}},
    ]
    assert [view.is_ours(n) for n in nodes] == [True, True, False]
    assert view.in_flight(["web-aaaaa", "web-bbbbb", "web-ccccc"], nodes) == ["web-bbbbb", "web-ccccc"]


def test_slim_pod_keeps_what_disruption_reads():
    obj = pod("a", "1")
    obj["metadata"]["annotations"] = {"karpenter.sh/do-not-disrupt": "true",
                                      "kubectl.kubernetes.io/last-applied-configuration": "{...}"}
    obj["spec"].update(priorityClassName="system-node-critical", terminationGracePeriodSeconds=5)
    p = kinds.slim_pod(obj)
    assert p["metadata"]["annotations"] == {"karpenter.sh/do-not-disrupt": "true"}
    assert p["spec"]["priorityClassName"] == "system-node-critical"
    assert p["spec"]["terminationGracePeriodSeconds"] == 5
