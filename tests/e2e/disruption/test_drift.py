"""Drift on the local cluster: a NodeClass AMI change makes every node of the pool drifted, and the
disruption controller replaces them one by one (replacement Ready, then drain, then removal), never
more at once than the NodePool's budget, until every node runs the new AMI."""

from __future__ import annotations

import re
import threading

import pytest

from tests.e2e.provisioning.conftest import all_running, deployment, nodes_by_name, pods_of, running
from tests.polling import wait_for

pytestmark = pytest.mark.cluster

ARCH = "kubernetes.io/arch"
HOSTNAME = "kubernetes.io/hostname"
DISRUPTED = "provisioner.sh/disrupted"


def history_messages(prov) -> list[str]:
    return [r.message for r in reversed(prov.fleet().history())]


def another_ami(prov, current: str) -> str:
    """An x86_64 image of the local EC2 other than `current`, one the NodeClass can select by id."""
    ec2 = prov.lc.ec2().client()
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}])["Images"]
    usable = sorted(i["ImageId"] for i in images
                    if i["ImageId"] != current and "minimal" not in i.get("Name", "") and not i.get("Platform"))
    assert usable, "the local EC2 has no second x86_64 image"
    return usable[0]


class Watch:
    """A background probe of the pool while the roll happens: the most nodes draining at once (in the
    stack), the most Nodes tainted `provisioner.sh/disrupted` at once, and what went wrong reading."""

    def __init__(self, prov, pool: str) -> None:
        self.prov, self.pool = prov, pool
        self.max_draining = self.max_tainted = 0
        self.draining_seen: set[str] = set()
        self.samples = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drift-watch", daemon=True)

    def __enter__(self) -> "Watch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                desired = self.prov.desired()
                draining = {n.name for n in (desired.nodes if desired else ())
                            if n.node_pool == self.pool and n.state == "draining"}
                tainted = {name for name, n in nodes_by_name(self.prov.kube).items()
                           if (n["metadata"].get("labels") or {}).get("provisioner.sh/nodepool") == self.pool
                           and any(t.get("key") == DISRUPTED for t in (n.get("spec") or {}).get("taints") or ())}
                self.max_draining = max(self.max_draining, len(draining))
                self.max_tainted = max(self.max_tainted, len(tainted))
                self.draining_seen |= draining
                self.samples += 1
            except Exception as err:  # noqa: BLE001 - e.g. the stack file read while Pulumi rewrites it
                self.errors.append(repr(err))
            self._stop.wait(0.2)


def test_an_ami_change_replaces_drifted_nodes_within_the_budget(prov, namespace):
    pool = prov.nodepool("drift", requirements=[{"key": ARCH, "operator": "In", "values": ["amd64"]}],
                         disruption={"consolidationPolicy": "WhenEmpty", "consolidateAfter": "Never",
                                     "budgets": [{"nodes": "1"}]})
    prov.start("--disruption-interval=1")
    affinity = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": HOSTNAME}]}}
    prov.kube.call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                   deployment("web", namespace, 3, cpu="500m", node_selector={"provisioner.sh/nodepool": pool},
                              affinity=affinity))
    pods = all_running(prov.kube, namespace, 3, 180)
    old_nodes = {p["spec"]["nodeName"] for p in pods}
    assert len(old_nodes) == 3 and {n.name for n in prov.desired().nodes} == old_nodes
    old_amis = {i["ImageId"] for i in prov.instances_of(old_nodes)}
    assert len(old_amis) == 1, old_amis
    old_ami = old_amis.pop()
    new_ami = another_ami(prov, old_ami)

    with Watch(prov, pool) as watch:
        doc = prov.nodeclass_doc()
        doc["spec"]["amiSelectorTerms"] = [{"id": new_ami}]
        doc["spec"]["amiFamily"] = "AL2023"  # an id term does not say which family
        prov.apply([doc])

        def rolled() -> bool:
            desired = prov.desired()
            names = {n.name for n in desired.nodes if n.node_pool == pool}
            if len(names) != 3 or names & old_nodes or any(n.state != "active" for n in desired.nodes):
                return False
            instances = prov.instances_of(names)
            return (len(instances) == 3 and {i["ImageId"] for i in instances} == {new_ami}
                    and len(running(pods_of(prov.kube, namespace))) == 3)

        wait_for(rolled, 300, f"every node of {pool} replaced and running {new_ami}", interval=1.0,
                 ignore=(OSError, ValueError))

    assert watch.samples > 20 and len(watch.errors) < watch.samples // 10 + 1, (watch.samples, watch.errors[:3])
    assert watch.max_draining <= 1, f"{watch.max_draining} nodes draining at once with a budget of 1"
    assert watch.max_tainted <= 1, f"{watch.max_tainted} Nodes tainted {DISRUPTED} at once with a budget of 1"
    assert watch.draining_seen, "the watch never saw a node draining"

    # the stack's config file holds the desired set before its update ends: wait for the last removal's record
    def recorded() -> list[str] | None:
        ms = history_messages(prov)
        return ms if all(any(m.startswith(f"disruption: removed {n} (Drifted)") for m in ms) for n in old_nodes) else None

    messages = wait_for(recorded, 60, "the last removal in the stack history")
    for node in old_nodes:
        launch = [m for m in messages if re.match(rf"disruption: launching \S+ to replace {node} \(Drifted: "
                                                  rf"{node}: AMI of NodeClass {prov.nodeclass} changed "
                                                  rf"\({old_ami} -> {new_ami}\)", m)]
        assert len(launch) == 1, messages
        assert any(m.startswith(f"disruption: draining {node} (Drifted") for m in messages), messages
        assert any(m.startswith(f"disruption: removed {node} (Drifted) after drain started in update #")
                   for m in messages), messages
    # one node at a time: each removal comes before the next launch
    rolling = [m.split(" ")[1] for m in messages
               if re.match(r"disruption: (launching|removed) ", m)]
    assert rolling == ["launching", "removed"] * 3, messages

    # the Node goes right after the removal's update is recorded
    wait_for(lambda: not (old_nodes & set(nodes_by_name(prov.kube))), 60, "the drifted Nodes deleted")
    pods = running(pods_of(prov.kube, namespace))
    assert len(pods) == 3 and not ({p["spec"]["nodeName"] for p in pods} & old_nodes)
    assert not prov.instances_of(old_nodes), "the drifted nodes' instances were terminated"
