"""The drain adapter against a fake API server: taint, order, 429 backoff, deadline."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from provisioner.termination.drain import DISRUPTED_TAINT, Backoff, drain, taint

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += timedelta(seconds=seconds)


class FakeKube:
    """Pods vanish when an eviction is accepted; `refuse(key, n)` answers 429 n times first."""

    def __init__(self, pods, taints=None, refuse=None, conflicts=0, stuck=(), pdbs=()):
        self.pdbs = list(pdbs)
        self.node = {"metadata": {"name": "n1", "resourceVersion": "1"}, "spec": {"taints": taints or []}}
        self.pods = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p for p in pods}
        self.refuse = dict(refuse or {})
        self.conflicts = conflicts
        self.stuck = set(stuck)  # accepted, but the pod never goes
        self.calls = []

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        self.calls.append((method, path, body))
        if path == "/api/v1/nodes/n1" and method == "GET":
            return 200, self.node
        if path == "/api/v1/nodes/n1" and method == "PATCH":
            assert content_type == "application/merge-patch+json"
            if self.conflicts:
                self.conflicts -= 1
                return 409, {}
            assert body["metadata"]["resourceVersion"] == self.node["metadata"]["resourceVersion"]
            self.node["spec"]["taints"] = body["spec"]["taints"]
            return 200, self.node
        if path == "/api/v1/pods":
            assert query == {"fieldSelector": "spec.nodeName=n1"}
            return 200, {"items": list(self.pods.values())}
        if path.endswith("/poddisruptionbudgets"):
            return 200, {"items": [d for d in self.pdbs if d["metadata"]["namespace"] == path.split("/")[5]]}
        if path.endswith("/eviction"):
            ns, name = path.split("/")[4], path.split("/")[6]
            key = f"{ns}/{name}"
            assert body["kind"] == "Eviction" and body["apiVersion"] == "policy/v1"
            if key not in self.pods:
                return 404, {}
            if self.refuse.get(key, 0) > 0:
                self.refuse[key] -= 1
                return 429, {}
            if key in self.stuck:
                self.pods[key]["metadata"]["deletionTimestamp"] = "x"
            else:
                del self.pods[key]
            return 201, {}
        raise AssertionError(f"unexpected {method} {path}")

    def evictions(self):
        return [p.split("/")[4] + "/" + p.split("/")[6] for m, p, _ in self.calls if p.endswith("/eviction")]


def pod(name, ns="app", critical=False, owner=None, grace=None):
    meta = {"name": name, "namespace": ns, "uid": f"uid-{name}", "labels": {"app": name}}
    if owner:
        meta["ownerReferences"] = [{"kind": owner}]
    spec = {"nodeName": "n1"}
    if critical:
        spec["priorityClassName"] = "system-cluster-critical"
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": meta, "spec": spec, "status": {"phase": "Running"}}


def run(kube, **kw):
    clock = FakeClock()
    return drain(kube, "n1", clock=clock, sleep=clock.sleep, poll_interval=0.5, **kw), clock


def test_taint_added_once_keeping_existing_taints():
    kube = FakeKube([], taints=[{"key": "dedicated", "value": "web", "effect": "NoSchedule"}])
    assert taint(kube, "n1") and taint(kube, "n1")
    assert kube.node["spec"]["taints"] == [{"key": "dedicated", "value": "web", "effect": "NoSchedule"},
                                           DISRUPTED_TAINT]
    assert sum(1 for m, _, _ in kube.calls if m == "PATCH") == 1


def test_taint_retries_on_conflict():
    kube = FakeKube([], conflicts=2)
    assert taint(kube, "n1")
    assert DISRUPTED_TAINT in kube.node["spec"]["taints"]


def test_drain_evicts_everything_and_leaves_daemonsets():
    kube = FakeKube([pod("a"), pod("b"), pod("ds", owner="DaemonSet")])
    result, _ = run(kube)
    assert result.complete and result.evicted == ["app/a", "app/b"]
    assert "app/ds" in kube.pods and kube.evictions() == ["app/a", "app/b"]


def test_critical_pods_are_evicted_after_the_others_are_gone():
    kube = FakeKube([pod("dns", ns="kube-system", critical=True), pod("a"), pod("b")], refuse={"app/b": 2})
    result, _ = run(kube)
    assert result.complete
    assert kube.evictions().index("kube-system/dns") > max(i for i, k in enumerate(kube.evictions()) if k == "app/b")
    assert result.evicted == ["app/a", "app/b", "kube-system/dns"]


def test_429_is_retried_with_backoff_never_deleted():
    kube = FakeKube([pod("a")], refuse={"app/a": 4})
    result, clock = run(kube, backoff=Backoff(initial=1.0, maximum=4.0))
    assert result.complete and result.refused == {"app/a": 4}
    assert result.blocked_by == {"app/a": []}  # no PDB found: still never deleted around the 429
    assert not any(m == "DELETE" for m, _, _ in kube.calls)
    # retries after 1, 2, 4, 4 s (polling every 0.5 s): at least 11 s of waiting
    assert clock.now - T0 >= timedelta(seconds=11)
    assert kube.evictions().count("app/a") == 5


def test_hard_deadline_stops_the_drain_and_reports_what_is_left():
    kube = FakeKube([pod("a"), pod("b")], refuse={"app/b": 10_000})
    result, clock = run(kube, termination_grace_period=timedelta(seconds=30))
    assert result.timed_out and not result.complete
    assert result.remaining == ["app/b"] and result.evicted == ["app/a"]
    assert timedelta(seconds=30) <= clock.now - T0 <= timedelta(seconds=31)


def test_eviction_grace_is_capped_by_the_deadline():
    kube = FakeKube([pod("a", grace=600)])
    run(kube, termination_grace_period=timedelta(seconds=90))
    body = next(b for m, p, b in kube.calls if p.endswith("/eviction"))
    assert body["deleteOptions"]["gracePeriodSeconds"] == 90
    assert body["deleteOptions"]["preconditions"] == {"uid": "uid-a"}


def test_terminating_pod_is_waited_for_not_evicted_again():
    kube = FakeKube([pod("a")], stuck={"app/a"})
    result, _ = run(kube, termination_grace_period=timedelta(seconds=5))
    assert kube.evictions() == ["app/a"] and result.timed_out and result.remaining == ["app/a"]


def test_resumed_drain_counts_the_deadline_from_its_start():
    kube = FakeKube([pod("a")], refuse={"app/a": 10_000})
    clock = FakeClock()
    result = drain(kube, "n1", termination_grace_period=timedelta(minutes=5), started=T0 - timedelta(minutes=10),
                   clock=clock, sleep=clock.sleep)
    assert result.timed_out and kube.evictions() == []


def test_empty_node_drains_at_once():
    result, clock = run(FakeKube([pod("ds", owner="DaemonSet")]))
    assert result.complete and result.evicted == [] and clock.now == T0


def test_backoff_doubles_to_a_maximum():
    b = Backoff(initial=0.5, maximum=3.0)
    assert [b.delay(i) for i in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_refused_pod_names_the_pdb_that_blocks_it():
    pdbs = [{"metadata": {"name": "web-pdb", "namespace": "app"}, "spec": {"selector": {"matchLabels": {"app": "a"}}},
             "status": {"disruptionsAllowed": 0}},
            {"metadata": {"name": "other", "namespace": "app"}, "spec": {"selector": {"matchLabels": {"app": "b"}}},
             "status": {"disruptionsAllowed": 0}}]
    kube = FakeKube([pod("a")], refuse={"app/a": 3}, pdbs=pdbs)
    result, _ = run(kube)
    assert result.complete and result.blocked_by == {"app/a": ["app/web-pdb"]}
    assert sum(1 for _, p, _ in kube.calls if p.endswith("/poddisruptionbudgets")) == 1


def test_node_already_gone():
    kube = FakeKube([pod("a")])
    kube.request = lambda *a, **k: (404, {})
    result, _ = run(kube)
    assert result.complete and result.evicted == []
