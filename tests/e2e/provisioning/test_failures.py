"""Policy rejection, a controller killed mid-update, leader failover, propose mode."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from provisioner.stack.recovery import recorded_instance_ids, stack_locks
from tests.polling import holds_for

from .conftest import REPO, all_running, deployment, events, nodes_by_name, pods_of, running, wait_for

pytestmark = pytest.mark.cluster

FAMILY = "provisioner.sh/instance-family"


def test_denied_family_is_avoided_by_the_planner(prov, namespace):
    prov.deny_families("c6a", "c7a", "m6a", "c5a")
    pool = prov.nodepool("general", requirements=[
        {"key": "provisioner.sh/instance-category", "operator": "In", "values": ["c", "m"]},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}])
    prov.start()
    prov.apply([deployment("web", namespace, 6, cpu="1")])
    pods = all_running(prov.kube, namespace, 6)
    nodes = nodes_by_name(prov.kube)
    families = {nodes[p["spec"]["nodeName"]]["metadata"]["labels"][FAMILY] for p in pods}
    assert families and not families & {"c6a", "c7a", "m6a", "c5a"}, families
    assert all(not t.startswith(("c6a.", "c7a.", "m6a.", "c5a."))
               for n in prov.desired().nodes for t in n.instance_types)
    assert pool


def test_forced_denied_family_is_rejected_with_an_event_and_nothing_launched(prov, namespace):
    prov.deny_families("c6a")
    pool = prov.nodepool("forced", requirements=[{"key": FAMILY, "operator": "In", "values": ["c6a"]}])
    c = prov.start("--no-planner-guardrails")
    prov.apply([deployment("web", namespace, 2, cpu="1")])

    ev = wait_for(lambda: events(prov.kube, namespace, "PolicyRejected"), 90, "a PolicyRejected event on the pods")
    assert "allowed-instance-types" in ev[0]["message"] or "c6a" in ev[0]["message"]
    pool_events = wait_for(lambda: events(prov.kube, "default", "PolicyRejected"), 30, "a NodePool event")
    assert any(e["involvedObject"]["name"] == pool for e in pool_events)
    conds = wait_for(lambda: {c["type"]: c for c in (prov.kube.call(
        "GET", f"/apis/provisioner.sh/v1/nodepools/{pool}").get("status") or {}).get("conditions") or ()}, 30,
        "NodePool conditions")
    assert conds["Provisioned"]["status"] == "False" and conds["Provisioned"]["reason"] == "PolicyRejected"
    assert prov.own_instances() == []
    assert not [h for h in prov.fleet().history() if h.result == "succeeded"]
    # retried with backoff, not in a storm: 2 s, 4 s, 8 s ... -> at most 4 attempts in 12 s
    failures = c.metric("provisioner_stack_update_failures_total")
    holds_for(lambda: c.metric("provisioner_stack_update_failures_total") - failures <= 3, 12,
              "more than 3 retries in 12 s: a retry storm", interval=1)


def test_killed_mid_update_restarts_and_converges(prov, namespace):
    prov.nodepool("general", requirements=[
        {"key": "provisioner.sh/instance-category", "operator": "In", "values": ["c", "m"]},
        {"key": "provisioner.sh/instance-cpu", "operator": "Lt", "values": ["3"]}])
    c = prov.start()
    fleet = prov.fleet()
    prov.apply([deployment("web", namespace, 24, cpu="1500m", memory="1Gi")])  # one pod per 2-vCPU node
    # kill as soon as the update has launched something (the stack is locked, the update not finished)
    wait_for(lambda: stack_locks(fleet) and prov.own_instances(), 120, "an update in progress with instances",
             interval=0.05)
    c.stop(signal.SIGKILL)
    assert stack_locks(fleet), "the kill left no lock behind: it came too late to test recovery"

    c2 = prov.start(identity="ctl-restarted")
    pods = all_running(prov.kube, namespace, 24, timeout=180)

    def converged():
        if stack_locks(fleet):
            return False
        recorded = recorded_instance_ids(fleet.export())
        return recorded if recorded == {i["InstanceId"] for i in prov.own_instances()} else False

    wait_for(converged, 90, "the stack unlocked with no orphan and no missing instance", interval=1)
    # Pods that ran on orphans (terminated by the recovery) come back through the pod GC (~1 min) and
    # are planned again: wait until every pod runs on a node of the stack.
    def settled():
        desired = {n.name for n in prov.desired().nodes}
        now = running(pods_of(prov.kube, namespace))
        return desired if len(now) == 24 and {p["spec"]["nodeName"] for p in now} <= desired else None

    desired = wait_for(settled, 180, "every pod Running on a node of the stack", interval=1)
    recorded = wait_for(converged, 90, "no orphan and no missing instance after the re-plan", interval=1)
    assert len(prov.instances_of(desired)) == len(desired) == len(recorded)  # one instance per node
    assert len(pods) == 24
    assert "recovered stack" in c2.log_text()


def test_leader_failover(prov, namespace):
    prov.nodepool("general")
    a = prov.start(identity="replica-a")
    b = prov.start(identity="replica-b")
    leader = wait_for(lambda: next((x for x in (a, b) if x.metric("provisioner_leader") == 1), None), 30, "a leader")
    standby = b if leader is a else a
    assert standby.metric("provisioner_leader") == 0
    leader.stop(signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: standby.metric("provisioner_leader") == 1, 20, "the standby to take over")
    took = time.monotonic() - killed
    assert took <= 6 + 3, f"takeover took {took:.1f}s with a 6s lease"
    before = set(nodes_by_name(prov.kube))
    prov.apply([deployment("web", namespace, 4, cpu="1")])
    pods = all_running(prov.kube, namespace, 4)
    used = {p["spec"]["nodeName"] for p in pods}
    assert standby.metric("provisioner_stack_updates_total") >= 1, (used, before)
    assert used <= {n.name for n in prov.desired().nodes}


def test_propose_mode_records_the_change_for_review_and_an_operator_applies_it(prov, namespace):
    pool = prov.nodepool("general")
    c = prov.start("--mode=propose")
    prov.apply([deployment("web", namespace, 3, cpu="1")])
    cm = wait_for(lambda: (lambda s_b: s_b[1] if s_b[0] == 200 else None)(
        prov.kube.request("GET", "/api/v1/namespaces/default/configmaps/provisioner-proposal")), 90, "the proposal")
    data = cm["data"]
    assert data["stack"] == prov.stack and data["message"].startswith("scale-up: +")
    assert "create" in data["diff"] and "policies: all passed" in data["diff"]
    # Events are sent from a worker thread, just after the ConfigMap: poll for it.
    wait_for(lambda: any(e["involvedObject"]["name"] == pool for e in events(prov.kube, "default", "Proposed")),
             30, "the Proposed Event on the NodePool")
    assert prov.instances_of({n for n in data["desired.yaml"].split() if n.startswith(pool)}) == []
    assert not prov.fleet().history()  # nothing applied

    # `fleet apply --local-cloud auto` finds the local EC2 under $PROVISIONER_HOME/local
    (prov.home / "local").symlink_to(prov.lc.state_dir, target_is_directory=True)
    desired = prov.tmp / "desired.yaml"
    desired.write_text(data["desired.yaml"])
    subprocess.run([sys.executable, "-m", "provisioner", "fleet", "apply", "-s", prov.stack, "--desired", str(desired),
                    "-m", data["message"], "-o", "json"], check=True, cwd=REPO, env=prov.env(), capture_output=True,
                   timeout=180)
    all_running(prov.kube, namespace, 3)
    assert json.dumps(prov.fleet().history()[0].message) == json.dumps(data["message"])
    # one proposal for these pods: the operator applied it, and the controller proposed nothing more
    assert c.log_text().count("proposed: ") == 1, c.log_text()[-3000:]
