"""Propose mode: record each planned change for review (ConfigMap + Event) instead of applying it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml

from provisioner.fleet.desired import DesiredNodeSet

CONFIGMAP = "provisioner-proposal"


def diff_text(changes: Any, current: DesiredNodeSet | None, proposed: DesiredNodeSet) -> str:
    """One line per changed resource with its reason, then the policy results."""
    lines = [f"{c.op:8} {c.kind:16} {c.name}  {c.reason}" for c in changes.changes if c.op != "same"]
    before = {n.name for n in (current.nodes if current else ())}
    after = {n.name for n in proposed.nodes}
    lines.append(f"nodes: {len(before)} -> {len(after)} (+{len(after - before)}, -{len(before - after)})")
    for v in changes.violations:
        lines.append(f"policy {v.level}: [{v.pack}/{v.policy}] {v.message}")
    if not changes.violations:
        lines.append("policies: all passed")
    return "\n".join(lines)


class ProposalRecorder:
    def __init__(self, kube: Any, reporter: Any, namespace: str, stack: str) -> None:
        self.kube, self.reporter, self.namespace, self.stack = kube, reporter, namespace, stack

    def record(self, decision: Any, changes: Any, current: DesiredNodeSet | None) -> dict:
        data = {
            "stack": self.stack,
            "message": decision.message,
            "proposedAt": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "desired.yaml": decision.desired.to_yaml(),
            "diff": diff_text(changes, current, decision.desired),
            "apply": (f"kubectl get configmap {CONFIGMAP} -n {self.namespace} -o jsonpath='{{.data.desired\\.yaml}}' "
                      f"> desired.yaml && provisioner fleet apply -s {self.stack} --desired desired.yaml "
                      f"-m {yaml.safe_dump(decision.message).strip()!s}"),
        }
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": CONFIGMAP, "namespace": self.namespace,
                             "labels": {"app.kubernetes.io/managed-by": "provisioner"}}, "data": data}
        path = f"/api/v1/namespaces/{self.namespace}/configmaps"
        status, _ = self.kube.request("PUT", f"{path}/{CONFIGMAP}", body)
        if status == 404:
            self.kube.call("POST", path, body)
        for pool in {n.node_pool for n in decision.added} or {"-"}:
            if self.reporter and pool != "-":
                self.reporter.nodepool_event(pool, "Proposed", f"{decision.message} (review: configmap "
                                                               f"{self.namespace}/{CONFIGMAP})")
        return data
