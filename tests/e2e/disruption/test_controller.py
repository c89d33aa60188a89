"""The disruption controller inside `provisioner run` on the local cluster: deleted Nodes and empty
nodes go through a drain and a removal, each a stack update whose message names the other."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.provisioning.conftest import all_running, deployment, nodes_by_name, pods_of, running
from tests.polling import wait_for

pytestmark = pytest.mark.cluster


def history_messages(prov) -> list[str]:
    return [r.message for r in reversed(prov.fleet().history())]


def scale(prov, namespace: str, name: str, replicas: int) -> None:
    prov.kube.patch_merge(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", {"spec": {"replicas": replicas}})


def test_kubectl_delete_node_drains_then_removes_through_the_stack(prov, namespace):
    pool = prov.nodepool("del")
    prov.start("--disruption-interval=1")
    prov.kube.call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                   deployment("web", namespace, 4, cpu="1", node_selector={"provisioner.sh/nodepool": pool}))
    pods = all_running(prov.kube, namespace, 4, 180)
    victim = sorted(p["spec"]["nodeName"] for p in pods)[0]
    wait_for(lambda: "provisioner.sh/termination" in (nodes_by_name(prov.kube)[victim]["metadata"].get("finalizers") or ()),
             30, "the finalizer on our node")

    prov.kube.call("DELETE", f"/api/v1/nodes/{victim}")
    held = nodes_by_name(prov.kube).get(victim)
    assert held is not None and held["metadata"].get("deletionTimestamp"), "the finalizer holds the Node"

    wait_for(lambda: victim not in nodes_by_name(prov.kube), 180, f"{victim} gone")
    wait_for(lambda: any(m.startswith(f"disruption: removed {victim}") for m in history_messages(prov)), 60,
             "the removal in the stack history")
    messages = history_messages(prov)
    drains = [m for m in messages if m.startswith(f"disruption: draining {victim} (Deleted")]
    removed = [m for m in messages if m.startswith(f"disruption: removed {victim} (Deleted)")]
    assert drains and removed, messages
    drain_version = next(r.version for r in prov.fleet().history() if r.message == drains[0])
    assert removed[0].endswith(f"after drain started in update #{drain_version}")
    assert not prov.instances_of({victim}), "the instance was terminated by the removal"
    desired = prov.desired()
    assert victim not in {n.name for n in desired.nodes}
    # the evicted pods found a place again (on the other nodes or on a new one), nothing leaked
    all_running(prov.kube, namespace, 4, 180)
    wait_for(lambda: len(prov.own_instances()) == len(prov.desired().nodes), 60, "instances = desired nodes")


def test_scale_to_zero_removes_empty_nodes_after_consolidate_after(prov, namespace):
    pool = prov.nodepool("empty", disruption={"consolidationPolicy": "WhenEmpty", "consolidateAfter": "15s",
                                              "budgets": [{"nodes": "100%"}]})
    prov.start("--disruption-interval=1")
    prov.kube.call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                   deployment("web", namespace, 6, cpu="1", node_selector={"provisioner.sh/nodepool": pool}))
    all_running(prov.kube, namespace, 6, 180)
    nodes = {n.name for n in prov.desired().nodes}
    assert nodes

    scale(prov, namespace, "web", 0)
    wait_for(lambda: not pods_of(prov.kube, namespace), 60, "pods gone")
    emptied = time.monotonic()
    wait_for(lambda: all(any(m.startswith("disruption: removed") and name in m for m in history_messages(prov))
                         for name in nodes), 180, "every node removed through the stack")
    assert time.monotonic() - emptied >= 10, "removed before consolidateAfter (15s) could pass"
    assert not prov.desired().nodes
    messages = history_messages(prov)
    for name in nodes:
        assert any(re.match(rf"disruption: draining .*\b{name}\b.* \(Empty, saves \$\d+\.\d\d/h\)", m) for m in messages), messages
        assert any(re.match(rf"disruption: removed .*\b{name}\b.* \(Empty\) after drain started in update #\d+", m)
                   for m in messages), messages
    wait_for(lambda: not prov.own_instances(), 60, "no instance left")
    wait_for(lambda: not (nodes & set(nodes_by_name(prov.kube))), 60, "Nodes deleted")
    assert not running(pods_of(prov.kube, namespace))
