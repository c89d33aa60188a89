"""What keeps the disruption controller away from a node, on the local cluster: a do-not-disrupt pod
(only its node is kept, and an Event names the pod), a budget of 0 (nothing voluntary happens until
the budget is raised) and a scheduled budget window (UTC cron: blocked inside, allowed outside)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.provisioning.conftest import all_running, deployment, nodes_by_name, pods_of, running
from tests.polling import holds_for, wait_for

pytestmark = pytest.mark.cluster

TYPE = "node.kubernetes.io/instance-type"
ZONE = "topology.kubernetes.io/zone"
CAPACITY = "provisioner.sh/capacity-type"
HOSTNAME = "kubernetes.io/hostname"


def history_messages(prov) -> list[str]:
    return [r.message for r in reversed(prov.fleet().history())]


def scale(prov, namespace: str, name: str, replicas: int) -> None:
    prov.kube.patch_merge(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", {"spec": {"replicas": replicas}})


def create(prov, namespace: str, doc: dict) -> None:
    prov.kube.call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", doc)


def one_per_node(app: str) -> dict:
    """Required pod anti-affinity on the hostname: each replica on a node of its own."""
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": HOSTNAME}]}}


def set_budgets(prov, pool: str, budgets: list[dict]) -> None:
    """A merge patch replaces the whole list, as `kubectl patch --type merge` would."""
    prov.kube.patch_merge(f"/apis/provisioner.sh/v1/nodepools/{pool}", {"spec": {"disruption": {"budgets": budgets}}})


def blocked_events(prov, kind: str, name: str) -> list[dict]:
    """DisruptionBlocked Events on one Node or NodePool (the controller records them in `default`)."""
    items = prov.kube.call("GET", "/api/v1/namespaces/default/events")["items"]
    return [e for e in items if e["reason"] == "DisruptionBlocked"
            and e["involvedObject"].get("kind") == kind and e["involvedObject"].get("name") == name]


def pool_state(prov, pool: str) -> dict[str, str]:
    """The pool's desired nodes -> state (active / draining), as the stack's config says now."""
    desired = prov.desired()
    return {n.name: n.state for n in (desired.nodes if desired else ()) if n.node_pool == pool}


def test_a_do_not_disrupt_pod_keeps_its_node_while_an_identical_node_is_consolidated(prov, namespace):
    zone = prov.lc.ec2().seed().zones[0]
    # One offering only: consolidation can delete a node (moving its pod), never replace it by a cheaper one.
    pool = prov.nodepool("guard", requirements=[{"key": TYPE, "operator": "In", "values": ["m5.large"]},
                                               {"key": ZONE, "operator": "In", "values": [zone]},
                                               {"key": CAPACITY, "operator": "In", "values": ["on-demand"]}],
                         disruption={"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "5s",
                                     "budgets": [{"nodes": "100%"}]})
    prov.start("--disruption-interval=1")
    selector = {"provisioner.sh/nodepool": pool}

    keep = deployment("keep", namespace, 1, cpu="500m", node_selector=selector)
    keep["spec"]["template"]["metadata"]["annotations"] = {"karpenter.sh/do-not-disrupt": "true"}
    create(prov, namespace, keep)
    kept_pod = all_running(prov.kube, namespace, 1, 180)[0]
    kept = kept_pod["spec"]["nodeName"]
    pod_key = f"{namespace}/{kept_pod['metadata']['name']}"

    # A second node just like it: cordon the first one while the other pod asks for room, then uncordon.
    prov.kube.patch_merge(f"/api/v1/nodes/{kept}", {"spec": {"unschedulable": True}})
    create(prov, namespace, deployment("free", namespace, 1, cpu="500m", node_selector=selector))
    free_pod = wait_for(lambda: running(pods_of(prov.kube, namespace, "free")), 180, "the free pod Running")[0]
    other = free_pod["spec"]["nodeName"]
    assert other != kept
    assert set(pool_state(prov, pool)) == {kept, other}
    prov.kube.patch_merge(f"/api/v1/nodes/{kept}", {"spec": {"unschedulable": None}})

    # Both are underutilized (one 500m pod on an m5.large each): the pass may only take the other one.
    wait_for(lambda: any(m.startswith(f"disruption: removed {other} (Underutilized)") for m in history_messages(prov)),
             180, f"{other} removed through the stack")
    wait_for(lambda: other not in nodes_by_name(prov.kube), 60, f"Node {other} deleted")
    wait_for(lambda: [p for p in running(pods_of(prov.kube, namespace, "free")) if p["spec"]["nodeName"] == kept],
             120, f"the free pod Running again, on {kept}")

    blocked = wait_for(lambda: blocked_events(prov, "Node", kept), 30, f"a DisruptionBlocked Event on {kept}")
    assert any(f"pod {pod_key} has karpenter.sh/do-not-disrupt=true" in e["message"] for e in blocked), \
        [e["message"] for e in blocked]
    assert not blocked_events(prov, "Node", other)

    def still_kept() -> bool:
        pods = running(pods_of(prov.kube, namespace, "keep"))
        return (pool_state(prov, pool) == {kept: "active"} and kept in nodes_by_name(prov.kube)
                and [p["metadata"]["name"] for p in pods] == [kept_pod["metadata"]["name"]])

    holds_for(still_kept, 15, f"{kept} (with the do-not-disrupt pod) kept, alone in the pool")
    messages = history_messages(prov)
    assert not [m for m in messages if m.startswith("disruption:") and kept in m], messages
    assert any(m.startswith(f"disruption: draining {other} (Underutilized") for m in messages), messages


def launch_two_then_empty(prov, namespace: str, pool: str) -> set[str]:
    """Two nodes of `pool` (one pod each), then no pod: both empty from now on."""
    create(prov, namespace, deployment("web", namespace, 2, cpu="500m", node_selector={"provisioner.sh/nodepool": pool},
                                       affinity=one_per_node("web")))
    pods = all_running(prov.kube, namespace, 2, 180)
    nodes = {p["spec"]["nodeName"] for p in pods}
    assert len(nodes) == 2 and set(pool_state(prov, pool)) == nodes
    scale(prov, namespace, "web", 0)
    wait_for(lambda: not pods_of(prov.kube, namespace), 60, "pods gone")
    return nodes


def assert_nothing_removed(prov, pool: str, nodes: set[str], seconds: float) -> None:
    holds_for(lambda: pool_state(prov, pool) == {n: "active" for n in nodes}
              and nodes <= set(nodes_by_name(prov.kube)), seconds, "the budget blocks every removal")
    assert not [m for m in history_messages(prov) if m.startswith("disruption:")]


def wait_removed(prov, pool: str, nodes: set[str]) -> None:
    def removed(n: str, m: str) -> bool:  # `disruption: removed a, b (Empty) after drain started in update #N`
        names, _, rest = m.removeprefix("disruption: removed ").partition(" (")
        return m.startswith("disruption: removed ") and n in names.split(", ") and rest.startswith("Empty)")

    wait_for(lambda: all(any(removed(n, m) for m in history_messages(prov)) for n in nodes), 180,
             "every node removed (Empty)")
    assert not pool_state(prov, pool)
    wait_for(lambda: not (nodes & set(nodes_by_name(prov.kube))), 60, "Nodes deleted")
    wait_for(lambda: not prov.own_instances(), 60, "no instance left")


def test_a_budget_of_zero_blocks_all_voluntary_disruption_until_raised(prov, namespace):
    pool = prov.nodepool("zero", disruption={"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5s",
                                             "budgets": [{"nodes": "0"}]})
    prov.start("--disruption-interval=1")
    nodes = launch_two_then_empty(prov, namespace, pool)

    assert_nothing_removed(prov, pool, nodes, 30)
    events = blocked_events(prov, "NodePool", pool)
    assert any("budget #0 nodes=0 allows 0 more" in e["message"] for e in events), [e["message"] for e in events]
    # one Event per change, not one per pass: a pass every second for 30 s must not flood the NodePool
    assert len(events) <= 3, [e["message"] for e in events]
    for n in nodes:
        assert any(f"Empty disruption of {n} waits" in e["message"] for e in blocked_events(prov, "Node", n))

    set_budgets(prov, pool, [{"nodes": "100%"}])
    wait_removed(prov, pool, nodes)


def daily_at(t: datetime) -> str:
    return f"{t.minute} {t.hour} * * *"


def test_a_scheduled_budget_window_blocks_only_inside_the_window(prov, namespace):
    now = datetime.now(timezone.utc)
    # Opened two minutes ago for 30 minutes: "now" is well inside, whatever minute the test reaches.
    inside = daily_at(now - timedelta(minutes=2))
    pool = prov.nodepool("window", disruption={"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5s",
                                               "budgets": [{"nodes": "100%"},
                                                           {"nodes": "0", "schedule": inside, "duration": "30m"}]})
    prov.start("--disruption-interval=1")
    nodes = launch_two_then_empty(prov, namespace, pool)

    assert_nothing_removed(prov, pool, nodes, 25)
    events = blocked_events(prov, "NodePool", pool)
    assert any(f"budget #1 nodes=0 (schedule '{inside}' for 0:30:00) allows 0 more" in e["message"] for e in events), \
        [e["message"] for e in events]
    assert len(events) <= 3, [e["message"] for e in events]

    # Move the blocking window to open in 30 minutes (for 10): now is outside it, the permissive budget rules.
    outside = daily_at(datetime.now(timezone.utc) + timedelta(minutes=30))
    set_budgets(prov, pool, [{"nodes": "100%"}, {"nodes": "0", "schedule": outside, "duration": "10m"}])
    wait_removed(prov, pool, nodes)


def test_an_invalid_budget_schedule_holds_its_own_nodepool_only(prov, namespace):
    # "0 25 * * *" fits the CRD's pattern (five fields) but hour 25 is no cron: that NodePool fails closed,
    # the others are disrupted as usual.
    bad = prov.nodepool("bad", disruption={"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5s",
                                           "budgets": [{"nodes": "100%"},
                                                       {"nodes": "0", "schedule": "0 25 * * *", "duration": "1h"}]})
    good = prov.nodepool("good", disruption={"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5s",
                                             "budgets": [{"nodes": "100%"}]})
    prov.start("--disruption-interval=1")
    for app, pool in (("a", bad), ("b", good)):
        create(prov, namespace, deployment(app, namespace, 1, cpu="500m", node_selector={"provisioner.sh/nodepool": pool}))
    pods = {p["metadata"]["labels"]["app"]: p["spec"]["nodeName"] for p in all_running(prov.kube, namespace, 2, 180)}
    held, freed = pods["a"], pods["b"]
    for app in ("a", "b"):
        scale(prov, namespace, app, 0)
    wait_for(lambda: not pods_of(prov.kube, namespace), 60, "pods gone")

    wait_for(lambda: any(m.startswith(f"disruption: removed {freed} (Empty)") for m in history_messages(prov)), 120,
             f"{freed} of NodePool {good} removed")
    events = wait_for(lambda: blocked_events(prov, "NodePool", bad), 30, f"a DisruptionBlocked Event on {bad}")
    assert any("budget #1 is invalid" in e["message"] and "25" in e["message"] for e in events), \
        [e["message"] for e in events]
    holds_for(lambda: pool_state(prov, bad) == {held: "active"} and held in nodes_by_name(prov.kube), 10,
              f"{held} kept: its NodePool's budget cannot be read")
    assert not [m for m in history_messages(prov) if m.startswith("disruption:") and held in m]
