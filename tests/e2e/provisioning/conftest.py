"""The provisioning controller as its users run it (`provisioner run`, a child process) on the local cluster.

Each test gets its own stack (own file backend under a tmp PROVISIONER_HOME) and its own
NodePools/NodeClass; teardown stops every controller it started, applies an empty desired
node set (terminating the test's instances) and removes the stack's files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from provisioner.fleet.desired import DesiredNodeSet
from provisioner.provisioning import bootstrap
from provisioner.state.kube import KubeClient
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[3]
DISCOVERY = "e2e"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ControllerProcess:
    proc: subprocess.Popen
    port: int
    log: Path
    identity: str

    def alive(self) -> bool:
        return self.proc.poll() is None

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError:
            return 0, ""

    def metric(self, name: str, labels: str = "") -> float:
        _, text = self.get("/metrics")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + (("{" + labels) if labels else "")) and not line.startswith("#"):
                head, _, value = line.rpartition(" ")
                if head == name or head.startswith(name + "{"):
                    total += float(value)
        return total

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.alive():
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Provisioning:
    """One test's controller(s), stack and custom resources."""

    lc: Any
    kube: KubeClient
    tmp: Path
    stack: str
    home: Path
    nodeclass: str
    controllers: list[ControllerProcess] = field(default_factory=list)
    objects: list[dict] = field(default_factory=list)
    guardrails_file: Path | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PULUMI_BACKEND_URL"}
        return {**env, "PROVISIONER_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}

    # ---- resources ----

    def nodeclass_doc(self) -> dict:
        return {"apiVersion": "provisioner.sh/v1", "kind": "NodeClass", "metadata": {"name": self.nodeclass},
                "spec": {"amiSelectorTerms": [{"alias": "al2023@latest"}], "role": "provisioner-node",
                         "subnetSelectorTerms": [{"tags": {bootstrap.DISCOVERY_TAG: DISCOVERY}}],
                         "securityGroupSelectorTerms": [{"tags": {bootstrap.DISCOVERY_TAG: DISCOVERY}}]}}

    def nodepool(self, name: str, requirements: list[dict] | None = None, taints: list[dict] | None = None,
                 labels: dict | None = None, weight: int | None = None, limits: dict | None = None,
                 disruption: dict | None = None, expire_after: str | None = None,
                 termination_grace_period: str | None = None) -> str:
        """A NodePool of this test (its name suffixed with the stack's). Without `disruption` the
        NodePool never consolidates (`consolidateAfter: Never`): provisioning tests must not lose nodes."""
        name = f"{name}-{self.stack[-5:]}"
        spec: dict = {"template": {"metadata": {"labels": labels or {}},
                                   "spec": {"nodeClassRef": {"group": "provisioner.sh", "kind": "NodeClass",
                                                             "name": self.nodeclass},
                                            "requirements": requirements or [], "taints": taints or []}}}
        if weight:
            spec["weight"] = weight
        if limits:
            spec["limits"] = limits
        spec["disruption"] = disruption or {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "Never"}
        if expire_after:
            spec["template"]["spec"]["expireAfter"] = expire_after
        if termination_grace_period:
            spec["template"]["spec"]["terminationGracePeriod"] = termination_grace_period
        self.apply([{"apiVersion": "provisioner.sh/v1", "kind": "NodePool", "metadata": {"name": name}, "spec": spec}])
        return name

    def apply(self, docs: list[dict]) -> None:
        bootstrap.apply(self.kube, docs)
        self.objects += [d for d in docs if d["kind"] in ("NodePool", "NodeClass")]

    def allow_gpus(self) -> None:
        self.guardrails_file = REPO / "stacks" / "guardrails" / f"{self.stack}.yaml"
        self.guardrails_file.write_text("deniedCategories: []\nmaxNodes: 500\nmaxVcpu: 8000\n")

    def deny_families(self, *families: str) -> None:
        self.guardrails_file = REPO / "stacks" / "guardrails" / f"{self.stack}.yaml"
        self.guardrails_file.write_text(
            f"deniedFamilies: [{', '.join(families)}]\ndeniedCategories: [p, g, inf, trn, dl, f, vt]\nmaxNodes: 500\n")

    # ---- controllers ----

    def start(self, *extra: str, identity: str | None = None, wait_ready: bool = True,
              kubeconfig: Path | None = None) -> ControllerProcess:
        port = free_port()
        identity = identity or f"ctl-{len(self.controllers)}"
        log = self.tmp / f"{identity}.log"
        argv = [sys.executable, "-m", "provisioner", "run", f"--kubeconfig={kubeconfig or self.lc.kubeconfig}",
                f"--cluster={self.lc.cluster}", f"--stack={self.stack}", f"--local-state-dir={self.lc.state_dir}",
                f"--health-port={port}", f"--identity={identity}", "--lease-seconds=6",
                "--namespace=default", f"--lease-name=lease-{self.stack}", "--log-format=text", *extra]
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=self.env(), cwd=REPO, start_new_session=True)
        c = ControllerProcess(proc, port, log, identity)
        self.controllers.append(c)
        if wait_ready:
            wait_for(lambda: c.get("/readyz")[0] == 200 or not c.alive(), 90, f"{identity} ready")
            assert c.alive(), c.log_text()[-3000:]
        return c

    # ---- what the stack says ----

    def fleet(self):
        from provisioner.stack.operations import FleetStack
        from provisioner.stack.target import LocalCloud, StackTarget

        old = os.environ.get("PROVISIONER_HOME")
        os.environ["PROVISIONER_HOME"] = str(self.home)
        try:
            ec2 = self.lc.ec2()
            return FleetStack(StackTarget(stack=self.stack, region=self.lc.region,
                                          local_cloud=LocalCloud(endpoint=ec2.endpoint, region=self.lc.region)))
        finally:
            if old is None:
                os.environ.pop("PROVISIONER_HOME", None)
            else:
                os.environ["PROVISIONER_HOME"] = old

    def desired(self) -> DesiredNodeSet | None:
        """The desired node set in the stack's config file (what the last update applied)."""
        path = REPO / "stacks" / f"Pulumi.{self.stack}.yaml"
        if not path.exists():
            return None
        import yaml

        raw = (yaml.safe_load(path.read_text()).get("config") or {}).get("provisioner:desiredNodeSet")
        if not raw:
            return None
        from provisioner.fleet.validation import parse

        return parse(raw)

    def instances(self) -> list[dict]:
        ec2 = self.lc.ec2().client()
        pages = ec2.get_paginator("describe_instances").paginate(Filters=[
            {"Name": "tag:provisioner.sh/cluster", "Values": [self.lc.cluster]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])
        return [i for p in pages for r in p["Reservations"] for i in r["Instances"]]

    def own_instances(self) -> list[dict]:
        """Running instances launched for this test's NodePools (their names end with the stack's suffix)."""
        suffix = f"-{self.stack[-5:]}"
        return [i for i in self.instances()
                if {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get("provisioner.sh/nodepool", "").endswith(suffix)]

    def instances_of(self, node_names: set[str]) -> list[dict]:
        """Running instances whose fleet belongs to one of `node_names`."""
        ec2 = self.lc.ec2().client()
        out = []
        for inst in self.instances():
            tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
            fleet = ec2.describe_fleets(FleetIds=[tags["aws:ec2:fleet-id"]])["Fleets"][0] if "aws:ec2:fleet-id" in tags else {}
            name = {t["Key"]: t["Value"] for t in fleet.get("Tags", [])}.get("provisioner.sh/node-name")
            if name in node_names:
                out.append(inst)
        return out

    def teardown(self) -> None:
        import socket

        for c in self.controllers:
            c.stop()
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.1", c.port)) != 0, f"{c.identity} still listens on {c.port}"
        for doc in reversed(self.objects):
            bootstrap.delete(self.kube, [doc])
        settings = REPO / "stacks" / f"Pulumi.{self.stack}.yaml"
        try:
            if settings.exists():
                fleet = self.fleet()
                from provisioner.stack.recovery import recover

                old = os.environ.get("PROVISIONER_HOME")
                os.environ["PROVISIONER_HOME"] = str(self.home)
                try:
                    recover(fleet, self.lc.ec2().client(), self.lc.cluster)
                    current = fleet.current_desired()
                    if current is not None and current.nodes:
                        fleet.apply(current.with_nodes([]), "test teardown: remove every node")
                finally:
                    if old is None:
                        os.environ.pop("PROVISIONER_HOME", None)
                    else:
                        os.environ["PROVISIONER_HOME"] = old
        finally:
            settings.unlink(missing_ok=True)
            if self.guardrails_file:
                self.guardrails_file.unlink(missing_ok=True)
        # The next test starts from a cluster without this test's nodes.
        suffix = f"-{self.stack[-5:]}"
        wait_for(lambda: not [n for n in self.kube.call("GET", "/api/v1/nodes")["items"]
                              if (n["metadata"].get("labels") or {}).get("provisioner.sh/nodepool", "").endswith(suffix)],
                 60, f"the nodes of {self.stack} to be gone")


@pytest.fixture(scope="session")
def provisioning_ready(local_cluster):
    kube = KubeClient(local_cluster.kubeconfig)
    bootstrap.install_crds(kube)
    ec2 = local_cluster.ec2()
    bootstrap.tag_discovery(ec2.client(), ec2.seed(), DISCOVERY)
    return kube


def clean_slate(local_cluster, kube: KubeClient) -> None:
    """Start from a cluster with no node: other suites share the session's cluster, and a pod
    landing on a node they left behind would make this test depend on their state."""
    ec2 = local_cluster.ec2().client()
    found = ec2.describe_instances(Filters=[
        {"Name": "tag:provisioner.sh/cluster", "Values": [local_cluster.cluster]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    ids = [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
    wait_for(lambda: not [n for n in kube.call("GET", "/api/v1/nodes")["items"]
                          if (n.get("spec") or {}).get("providerID", "").startswith("aws://")],
             60, "nodes left by other tests to be gone")


@pytest.fixture
def prov(local_cluster, provisioning_ready, tmp_path):
    clean_slate(local_cluster, provisioning_ready)
    stack = f"e2e{uuid.uuid4().hex[:8]}"
    p = Provisioning(local_cluster, provisioning_ready, tmp_path, stack, tmp_path / "home", f"nc-{stack[-5:]}")
    p.apply([p.nodeclass_doc()])
    yield p
    p.teardown()


# ---- workloads ----

def deployment(name: str, namespace: str, replicas: int, cpu: str = "500m", memory: str = "512Mi",
               node_selector: dict | None = None, tolerations: list | None = None, spread: list | None = None,
               affinity: dict | None = None, extra_resources: dict | None = None) -> dict:
    requests = {"cpu": cpu, "memory": memory, **(extra_resources or {})}
    limits = {k: v for k, v in (extra_resources or {}).items()}
    spec: dict = {"containers": [{"name": "app", "image": "registry.local/app:1",
                                  "resources": {"requests": requests, **({"limits": limits} if limits else {})}}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    if spread:
        spec["topologySpreadConstraints"] = spread
    if affinity:
        spec["affinity"] = affinity
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def pods_of(kube: KubeClient, namespace: str, app: str | None = None) -> list[dict]:
    query = {"labelSelector": f"app={app}"} if app else None
    return kube.call("GET", f"/api/v1/namespaces/{namespace}/pods", query=query)["items"]


def running(pods: list[dict]) -> list[dict]:
    return [p for p in pods if p["status"].get("phase") == "Running" and p["spec"].get("nodeName")]


def nodes_by_name(kube: KubeClient) -> dict[str, dict]:
    return {n["metadata"]["name"]: n for n in kube.call("GET", "/api/v1/nodes")["items"]}


def events(kube: KubeClient, namespace: str, reason: str | None = None) -> list[dict]:
    items = kube.call("GET", f"/api/v1/namespaces/{namespace}/events")["items"]
    return [e for e in items if reason is None or e["reason"] == reason]


def all_running(kube: KubeClient, namespace: str, count: int, timeout: float = 120.0) -> list[dict]:
    return wait_for(lambda: (lambda ps: ps if len(ps) == count else None)(running(pods_of(kube, namespace))),
                    timeout, f"{count} pods Running in {namespace}")


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)[:3000]
