"""`provisioner explain node NAME` against the local cluster: the controller launched the node (with
disruption off, so nothing changes under the test), and explain names the launch update, the pods and
what the disruption pass would do next."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.e2e.provisioning.conftest import REPO, all_running, deployment

pytestmark = pytest.mark.cluster


def explain(prov, node: str, output: str = "json") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "provisioner", "explain", "node", node, "--output", output,
                           f"--kubeconfig={prov.lc.kubeconfig}", f"--cluster={prov.lc.cluster}", f"--stack={prov.stack}",
                           f"--local-state-dir={prov.lc.state_dir}"],
                          capture_output=True, text=True, cwd=REPO, env=prov.env(), timeout=180)


def first_update_with(prov, node: str):
    """The oldest stack update whose recorded config holds `node` (read from Pulumi's own history)."""
    from provisioner.stack.operations import desired_from_history_config

    fleet = prov.fleet()
    records = fleet.history()
    raw = fleet._stack.history()
    for rec, entry in zip(reversed(records), reversed(raw)):
        desired = desired_from_history_config(entry.config)
        if desired is not None and node in {n.name for n in desired.nodes}:
            return rec
    raise AssertionError(f"no update holds {node}: {[r.message for r in records]}")


def launched(prov, namespace: str, app: str, replicas: int, annotations: dict | None = None,
             disruption: dict | None = None) -> tuple[str, list[dict]]:
    pool = prov.nodepool(app, disruption=disruption)
    prov.start("--no-disruption")
    doc = deployment(app, namespace, replicas, cpu="500m", node_selector={"provisioner.sh/nodepool": pool})
    if annotations:
        doc["spec"]["template"]["metadata"]["annotations"] = annotations
    prov.kube.call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", doc)
    pods = all_running(prov.kube, namespace, replicas, 180)
    return pool, pods


def test_explain_names_the_launch_update_the_pods_and_what_comes_next(prov, namespace):
    pool, pods = launched(prov, namespace, "web", 2, disruption={"consolidationPolicy": "WhenEmptyOrUnderutilized",
                                                                 "consolidateAfter": "30s"})
    node = sorted(p["spec"]["nodeName"] for p in pods)[0]
    out = explain(prov, node)
    assert out.returncode == 0, out.stderr[-3000:]
    ex = json.loads(out.stdout.strip().splitlines()[-1])

    launch = first_update_with(prov, node)
    assert ex["node"] == node and ex["managed"] and ex["registered"] and ex["ready"]
    assert ex["nodepool"] == pool and ex["state"] == "active" and ex["instance_type"] and ex["price_per_hour"] > 0
    assert ex["launched_in"]["version"] == launch.version and ex["launched_in"]["message"] == launch.message
    assert ex["launched_in"]["message"].startswith("scale-up: +")
    assert ex["reason"].endswith(f"{namespace}/web")
    assert sorted(ex["pods"]) == sorted(f"{namespace}/{p['metadata']['name']}" for p in pods
                                        if p["spec"]["nodeName"] == node)
    assert ex["next"]["kind"] in ("disrupt", "kept", "waits") and ex["next"]["summary"]
    assert "what-if" in ex["what_if"]

    text = explain(prov, node, "table")
    assert text.returncode == 0, text.stderr[-3000:]
    print(text.stdout)  # shown with -s: the example in docs/explain.md
    assert f"Node {node}" in text.stdout and f"launched in update #{launch.version}" in text.stdout
    assert "What would happen next" in text.stdout

    missing = explain(prov, "no-such-node")
    assert missing.returncode != 0 and "node no-such-node not found" in missing.stderr


def test_explain_says_a_do_not_disrupt_pod_keeps_the_node(prov, namespace):
    _, pods = launched(prov, namespace, "keep", 1, annotations={"karpenter.sh/do-not-disrupt": "true"},
                       disruption={"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "30s"})
    node = pods[0]["spec"]["nodeName"]
    out = explain(prov, node)
    assert out.returncode == 0, out.stderr[-3000:]
    ex = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(ex, indent=2))  # shown with -s: the example in docs/explain.md
    pod = f"{namespace}/{pods[0]['metadata']['name']}"
    assert ex["pods"] == [pod]
    assert ex["next"]["kind"] == "blocked" and ex["next"]["summary"].startswith("kept")
    assert f"pod {pod} has karpenter.sh/do-not-disrupt=true" in ex["next"]["summary"]
    assert [b["reason"] for b in ex["next"]["blocked"]] == ["DoNotDisrupt"]
