"""Consolidation (WhenEmptyOrUnderutilized) by the controller inside `provisioner run` on the local
cluster: a shrunk workload ends on fewer or cheaper nodes, every pod keeps a place (replacements are
Ready before a drain, evictions go through PodDisruptionBudgets), watched continuously; each step is
a stack update whose message names the others."""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

import pytest

from provisioner.catalog.pricing import LocalPriceSource
from tests.e2e.cluster.helpers import pod_ready
from tests.e2e.provisioning.conftest import all_running, deployment, nodes_by_name, pods_of, running
from tests.polling import wait_for

pytestmark = pytest.mark.cluster

TYPE = "node.kubernetes.io/instance-type"
CAPACITY = "provisioner.sh/capacity-type"
ZONE = "topology.kubernetes.io/zone"
# one family (price linear in size), three sizes: pods share nodes, and a smaller node is cheaper
SIZES = ["c5.large", "c5.xlarge", "c5.2xlarge"]
REQUIREMENTS = [{"key": TYPE, "operator": "In", "values": SIZES},
                {"key": CAPACITY, "operator": "In", "values": ["on-demand"]}]
CONSOLIDATE = {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "10s",
               "budgets": [{"nodes": "100%"}]}
# A pod evicted by consolidation has a place at once (its replacement was Ready before the drain,
# or the simulation found room on the other nodes): it waits only for the scheduler. If the
# simulation were wrong it would wait for the provisioner to launch a node (batch window, stack
# update, boot, registration: about 30 s here, more on a loaded 2-core machine): 120 s catches
# a pod left without a place for good, or waiting behind a drain, without flaking on slow runs.
MAX_UNPLACED_SECONDS = 120.0
SETTLE_SECONDS = 30.0  # > consolidateAfter (10 s) + a pass: a node whose pods just moved may go next


def history_messages(prov) -> list[str]:
    return [r.message for r in reversed(prov.fleet().history())]


def scale(prov, namespace: str, name: str, replicas: int) -> None:
    prov.kube.patch_merge(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", {"spec": {"replicas": replicas}})


def fleet_cost(prov, pool: str) -> float:
    """$/h of the desired nodes of `pool`, at the catalog's prices of what was launched (the Node's
    labels once registered, the first ranked instance type before)."""
    prices = LocalPriceSource(prov.lc.region)
    nodes = nodes_by_name(prov.kube)
    total = 0.0
    for d in prov.desired().nodes:
        if d.node_pool != pool:
            continue
        labels = (nodes.get(d.name) or {}).get("metadata", {}).get("labels") or {}
        itype = labels.get(TYPE) or d.instance_types[0]
        capacity = labels.get(CAPACITY) or d.capacity_type
        zone = labels.get(ZONE) or d.zones[0]
        price = prices.spot(itype, zone) if capacity == "spot" else prices.on_demand(itype)
        assert price, f"no catalog price for {itype} ({d.name})"
        total += price
    return total


def pool_nodes(prov, pool: str) -> dict[str, str]:
    """Registered Nodes of `pool`: name -> instance type."""
    return {name: n["metadata"]["labels"].get(TYPE, "?") for name, n in nodes_by_name(prov.kube).items()
            if n["metadata"].get("labels", {}).get("provisioner.sh/nodepool") == pool}


def settled(prov, seconds: float) -> Callable[[], bool]:
    """A probe: true once the stack history has not moved for `seconds` and no node is draining."""
    seen: dict[str, Any] = {"version": None, "since": time.monotonic()}

    def probe() -> bool:
        history = prov.fleet().history(limit=1)
        version = history[0].version if history else None
        if version != seen["version"]:
            seen.update(version=version, since=time.monotonic())
            return False
        desired = prov.desired()
        if desired is not None and any(n.state != "active" for n in desired.nodes):
            seen["since"] = time.monotonic()
            return False
        return time.monotonic() - seen["since"] >= seconds
    return probe


class PodWatch:
    """Watches the pods of one app (list, then watch; relists when the watch expires) and keeps:
    the longest time a pod was seen without a node (created or evicted-and-recreated until bound),
    and the largest `replicas - Ready pods` at any observation."""

    def __init__(self, kube, namespace: str, app: str, replicas: int) -> None:
        self.kube, self.namespace, self.app, self.replicas = kube, namespace, app, replicas
        self.pods: dict[str, dict] = {}
        self.unplaced_since: dict[str, float] = {}  # pod -> first seen without a node
        self.longest_unplaced = 0.0
        self.longest_pod = ""
        self.placements = 0  # pods seen without a node, then with one (or gone)
        self.worst_unavailable = 0
        self.observations = 0
        self.errors: list[str] = []
        self.stop = threading.Event()
        self._lock = threading.RLock()
        self.version = self._list()
        self.thread = threading.Thread(target=self._run, name=f"watch-{app}", daemon=True)
        self.thread.start()

    def _list(self) -> str:
        listed = self.kube.call("GET", f"/api/v1/namespaces/{self.namespace}/pods",
                                query={"labelSelector": f"app={self.app}"})
        with self._lock:
            self.pods = {p["metadata"]["name"]: p for p in listed["items"]}
            for name in list(self.unplaced_since):
                if name not in self.pods:
                    self._placed(name)
            self._observe()
        return listed["metadata"]["resourceVersion"]

    def _placed(self, name: str) -> None:
        since = self.unplaced_since.pop(name, None)
        if since is not None:
            self.placements += 1
            waited = time.monotonic() - since
            if waited > self.longest_unplaced:
                self.longest_unplaced, self.longest_pod = waited, name

    def _observe(self) -> None:
        now = time.monotonic()
        self.observations += 1
        for name, p in self.pods.items():
            if p["spec"].get("nodeName") or p["metadata"].get("deletionTimestamp"):
                self._placed(name)
            else:
                self.unplaced_since.setdefault(name, now)
        ready = sum(1 for p in self.pods.values() if pod_ready(p))
        self.worst_unavailable = max(self.worst_unavailable, self.replicas - ready)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                stream = self.kube.watch(f"/api/v1/namespaces/{self.namespace}/pods",
                                         {"labelSelector": f"app={self.app}", "resourceVersion": self.version,
                                          "allowWatchBookmarks": "true"}, 10)
            except Exception as err:  # noqa: BLE001 - a busy apiserver: list again
                self.errors.append(repr(err))
                self.version = self._list()
                continue
            expired = False
            try:
                for event in stream:
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        expired = True  # 410 Gone: the version is too old; list again
                        break
                    self.version = obj["metadata"]["resourceVersion"]
                    if event["type"] == "BOOKMARK":
                        continue
                    with self._lock:
                        name = obj["metadata"]["name"]
                        if event["type"] == "DELETED":
                            self.pods.pop(name, None)
                            self._placed(name)
                        else:
                            self.pods[name] = obj
                        self._observe()
                    if self.stop.is_set():
                        break
            finally:
                stream.close()
            if expired:
                self.version = self._list()

    def still_unplaced(self) -> float:
        with self._lock:
            return max((time.monotonic() - t for t in self.unplaced_since.values()), default=0.0)

    def close(self) -> "PodWatch":
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the pod watch did not stop"
        with self._lock:
            self.longest_unplaced = max(self.longest_unplaced, self.still_unplaced())
        return self


def consolidation_records(prov) -> list[Any]:
    """Underutilized stack updates, oldest first."""
    return [r for r in reversed(prov.fleet().history())
            if r.message.startswith("disruption:") and "Underutilized" in r.message]


def assert_messages_chain(prov) -> tuple[int, int]:
    """Every Underutilized removal names the update that started its drain, every drain of a
    replaced set names the update that launched the replacement; (removals, replacements)."""
    records = [r for r in reversed(prov.fleet().history()) if r.result == "succeeded"]
    by_version = {r.version: r for r in records}
    removals = replacements = 0
    for r in records:
        m = re.match(r"disruption: removed (.+) \(Underutilized\) after drain started in update #(\d+)$", r.message)
        if m:
            removals += 1
            drain = by_version.get(int(m.group(2)))
            assert drain is not None and drain.version < r.version, (r.message, [x.message for x in records])
            assert drain.message.startswith(f"disruption: draining {m.group(1)} (Underutilized, saves $"), \
                (r.message, drain.message)
        m = re.match(r"disruption: draining (.+) \(Underutilized, saves \$(\d+\.\d\d)/h(?:; replaced by (.+) "
                     r"launched in update #(\d+))?\)$", r.message)
        if r.message.startswith("disruption: draining") and "Underutilized" in r.message:
            assert m, r.message
            assert float(m.group(2)) > 0, r.message
            if m.group(3):
                replacements += 1
                launch = by_version.get(int(m.group(4)))
                assert launch is not None and launch.version < r.version, (r.message, [x.message for x in records])
                assert launch.message.startswith(
                    f"disruption: launching {m.group(3)} to replace {m.group(1)} (Underutilized: "), \
                    (r.message, launch.message)
    for r in records:  # every launch was followed by the drain of the nodes it replaced
        m = re.match(r"disruption: launching (.+) to replace (.+) \(Underutilized: ", r.message)
        if m:
            assert any(x.message.startswith(f"disruption: draining {m.group(2)} (Underutilized")
                       and f"replaced by {m.group(1)} launched in update #{r.version})" in x.message
                       for x in records), (r.message, [x.message for x in records])
    return removals, replacements


def test_halving_a_deployment_consolidates_to_cheaper_nodes_and_every_pod_keeps_a_place(prov, namespace):
    pool = prov.nodepool("half", requirements=REQUIREMENTS, disruption=CONSOLIDATE)
    c = prov.start("--disruption-interval=1")
    prov.kube.call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                   deployment("web", namespace, 12, cpu="500m", memory="256Mi",
                              node_selector={"provisioner.sh/nodepool": pool}))
    all_running(prov.kube, namespace, 12, 240)
    wait_for(settled(prov, 5), 120, "the scale-up to settle", interval=1)
    before, shape_before = fleet_cost(prov, pool), pool_nodes(prov, pool)
    assert before > 0 and shape_before
    assert not consolidation_records(prov), "consolidated before the Deployment shrank"

    watch = PodWatch(prov.kube, namespace, "web", 6)
    t0 = time.monotonic()
    try:
        scale(prov, namespace, "web", 6)
        wait_for(lambda: consolidation_records(prov), 240, "a consolidation update in the stack history", interval=2)
        wait_for(settled(prov, SETTLE_SECONDS), 240, f"no stack update for {SETTLE_SECONDS:.0f}s", interval=2)
        all_running(prov.kube, namespace, 6, 120)
    finally:
        watch.close()
    took = time.monotonic() - t0

    after, shape_after = fleet_cost(prov, pool), pool_nodes(prov, pool)
    removals, replacements = assert_messages_chain(prov)
    print(f"\nhalving: ${before:.3f}/h {sorted(shape_before.values())} -> ${after:.3f}/h "
          f"{sorted(shape_after.values())} in {took:.0f}s; {removals} removals, {replacements} replacements; "
          f"{watch.placements} pods placed again, the longest unplaced {watch.longest_unplaced:.2f}s; "
          f"worst unavailable {watch.worst_unavailable} over {watch.observations} observations")
    assert after < before - 1e-9, (before, after, history_messages(prov))
    assert removals >= 1, history_messages(prov)
    assert watch.longest_unplaced <= MAX_UNPLACED_SECONDS, \
        f"{watch.longest_pod} had no node for {watch.longest_unplaced:.0f}s"
    assert watch.placements >= 1, "the watch saw no evicted pod placed again"
    pods = running(pods_of(prov.kube, namespace))
    assert len(pods) == 6 and all(p["spec"]["nodeName"] in shape_after for p in pods)
    # the stack, the instances and the Nodes agree; the controller's own cost metric too
    desired = {n.name for n in prov.desired().nodes}
    assert desired == set(shape_after), (desired, shape_after)
    wait_for(lambda: len(prov.own_instances()) == len(desired), 60, "instances = desired nodes")
    wait_for(lambda: abs(c.metric("provisioner_cost_per_hour_dollars", f'nodepool="{pool}"') - after) < 1e-6,
             60, f"the cost metric at ${after:.3f}/h")
    assert c.alive(), c.log_text()[-3000:]


def test_pdb_max_unavailable_one_holds_during_consolidation(prov, namespace):
    pool = prov.nodepool("pdb", requirements=REQUIREMENTS, disruption=CONSOLIDATE)
    c = prov.start("--disruption-interval=1")
    select = {"provisioner.sh/nodepool": pool}
    # `filler` takes most of the room, so the nodes launched for both hold a few `web` pods each
    # (the scheduler spreads them: least-allocated scoring); without it they are underutilized
    prov.kube.call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                   deployment("filler", namespace, 8, cpu="1500m", memory="256Mi", node_selector=select))
    prov.kube.call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                   deployment("web", namespace, 10, cpu="400m", memory="256Mi", node_selector=select))
    prov.kube.call("POST", f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets",
                   {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
                    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
    all_running(prov.kube, namespace, 18, 240)
    wait_for(lambda: prov.kube.call("GET", f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/web")
             .get("status", {}).get("disruptionsAllowed") == 1, 60, "the PDB to allow one disruption")
    web_nodes = {p["spec"]["nodeName"] for p in running(pods_of(prov.kube, namespace, "web"))}
    before, shape_before = fleet_cost(prov, pool), pool_nodes(prov, pool)
    assert len(web_nodes) >= 2, f"web on {web_nodes}: nothing to merge"

    watch = PodWatch(prov.kube, namespace, "web", 10)
    t0 = time.monotonic()
    try:
        scale(prov, namespace, "filler", 0)
        wait_for(lambda: any(r.message.startswith("disruption: removed") for r in consolidation_records(prov)),
                 240, "a consolidation removal in the stack history", interval=2)
        wait_for(settled(prov, SETTLE_SECONDS), 240, f"no stack update for {SETTLE_SECONDS:.0f}s", interval=2)
        wait_for(lambda: len([p for p in pods_of(prov.kube, namespace, "web") if pod_ready(p)]) == 10, 120,
                 "10 web pods Ready")
    finally:
        watch.close()
    took = time.monotonic() - t0

    after, shape_after = fleet_cost(prov, pool), pool_nodes(prov, pool)
    removals, replacements = assert_messages_chain(prov)
    web_after = {p["spec"]["nodeName"] for p in running(pods_of(prov.kube, namespace, "web"))}
    print(f"\npdb: web on {len(web_nodes)} nodes -> {len(web_after)}; ${before:.3f}/h {sorted(shape_before.values())}"
          f" -> ${after:.3f}/h {sorted(shape_after.values())} in {took:.0f}s; {removals} removals, "
          f"{replacements} replacements; worst unavailable {watch.worst_unavailable} over {watch.observations} "
          f"observations; {watch.placements} pods placed again, the longest unplaced {watch.longest_unplaced:.2f}s")
    assert watch.worst_unavailable <= 1, f"{watch.worst_unavailable} web pods unavailable at once (maxUnavailable=1)"
    assert watch.worst_unavailable == 1, "the watch never saw an evicted pod missing: it did not observe a drain"
    assert removals >= 1
    assert len(web_after) < len(web_nodes), (web_nodes, web_after)
    assert after < before - 1e-9, (before, after, history_messages(prov))
    assert watch.placements >= 1 and watch.longest_unplaced <= MAX_UNPLACED_SECONDS
    assert c.alive(), c.log_text()[-3000:]


def test_shrunk_node_is_replaced_by_a_cheaper_one_ready_before_the_drain(prov, namespace):
    pool = prov.nodepool("repl", requirements=REQUIREMENTS, disruption=CONSOLIDATE)
    c = prov.start("--disruption-interval=1")
    select = {"provisioner.sh/nodepool": pool}
    # one 5-CPU pod needs a c5.2xlarge, the 4 web pods (2 CPU) share it: the cheapest fleet is that
    # one node; once the big pod goes, a c5.xlarge holds the web pods for half the price
    prov.kube.call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                   deployment("big", namespace, 1, cpu="5", memory="256Mi", node_selector=select))
    prov.kube.call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                   deployment("web", namespace, 4, cpu="500m", memory="256Mi", node_selector=select))
    all_running(prov.kube, namespace, 5, 240)
    wait_for(settled(prov, 5), 120, "the scale-up to settle", interval=1)
    before, shape_before = fleet_cost(prov, pool), pool_nodes(prov, pool)
    assert sorted(shape_before.values()) == ["c5.2xlarge"], shape_before
    (old,) = shape_before

    watch = PodWatch(prov.kube, namespace, "web", 4)
    t0 = time.monotonic()
    try:
        scale(prov, namespace, "big", 0)
        wait_for(lambda: any(r.message.startswith(f"disruption: removed {old}") for r in consolidation_records(prov)),
                 240, f"the removal of {old} in the stack history", interval=2)
        wait_for(settled(prov, SETTLE_SECONDS), 240, f"no stack update for {SETTLE_SECONDS:.0f}s", interval=2)
        web = wait_for(lambda: (lambda ps: ps if len(ps) == 4 else None)(
            [p for p in pods_of(prov.kube, namespace, "web") if pod_ready(p)]), 120, "4 web pods Ready")
    finally:
        watch.close()
    took = time.monotonic() - t0

    after, shape_after = fleet_cost(prov, pool), pool_nodes(prov, pool)
    removals, replacements = assert_messages_chain(prov)
    messages = [m for m in history_messages(prov) if m.startswith("disruption:")]
    print(f"\nreplace: ${before:.3f}/h {sorted(shape_before.values())} -> ${after:.3f}/h "
          f"{sorted(shape_after.values())} in {took:.0f}s; {watch.placements} web pods placed again, the longest "
          f"unplaced {watch.longest_unplaced:.2f}s; "
          f"worst unavailable {watch.worst_unavailable}; messages: {messages}")
    assert (removals, replacements) == (1, 1), messages
    assert sorted(shape_after.values()) == ["c5.xlarge"], shape_after
    (new,) = shape_after
    assert messages[0].startswith(f"disruption: launching {new} to replace {old} (Underutilized: replace 1x "
                                  f"c5.2xlarge on-demand with 1x c5.xlarge on-demand)"), messages
    assert after == pytest.approx(before / 2), (before, after)
    assert {p["spec"]["nodeName"] for p in web} == {new}
    # the replacement was Ready before the drain: the evicted pods were placed at once
    assert watch.placements >= 4, "the watch did not see the 4 web pods placed again"
    assert watch.longest_unplaced <= MAX_UNPLACED_SECONDS, watch.longest_pod
    assert not prov.instances_of({old}), "the old instance was terminated"
    assert c.alive(), c.log_text()[-3000:]
