"""Getting a cluster ready for the controller: CRDs, discovery tags in the local EC2, manifests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

import yaml

from provisioner.api.crd import CRD_DIR

DISCOVERY_TAG = "provisioner.sh/discovery"
_PATHS = {
    ("v1", "Namespace"): "/api/v1/namespaces",
    ("apps/v1", "Deployment"): "/apis/apps/v1/namespaces/{ns}/deployments",
    ("apps/v1", "DaemonSet"): "/apis/apps/v1/namespaces/{ns}/daemonsets",
    ("v1", "Pod"): "/api/v1/namespaces/{ns}/pods",
    ("provisioner.sh/v1", "NodePool"): "/apis/provisioner.sh/v1/nodepools",
    ("provisioner.sh/v1", "NodeClass"): "/apis/provisioner.sh/v1/nodeclasses",
    ("policy/v1", "PodDisruptionBudget"): "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
}


def install_crds(kube: Any, timeout: float = 30.0) -> list[str]:
    names = []
    for path in sorted(Path(CRD_DIR).glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        names.append(crd["metadata"]["name"])
        status, _ = kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        if status not in (201, 409):
            raise RuntimeError(f"installing CRD {crd['metadata']['name']}: HTTP {status}")
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            crd = kube.call("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conds = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or ()}
            if conds.get("Established") == "True":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD {name} not Established within {timeout:.0f}s")
            time.sleep(0.1)
    # The API server serves a new group a moment after Established: wait until listing works.
    for plural in ("nodepools", "nodeclasses"):
        while kube.request("GET", f"/apis/provisioner.sh/v1/{plural}")[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"provisioner.sh/v1 {plural} not served within {timeout:.0f}s")
            time.sleep(0.1)
    return names


def tag_discovery(ec2: Any, seed: Any, value: str) -> None:
    """Tag the local EC2's subnets and security groups as the sample NodeClass selects them."""
    ids = list(seed.subnets.values()) + list(seed.security_group_ids)
    ec2.create_tags(Resources=ids, Tags=[{"Key": DISCOVERY_TAG, "Value": value}])


def path_for(doc: dict) -> str:
    key = (doc["apiVersion"], doc["kind"])
    if key not in _PATHS:
        raise ValueError(f"unsupported kind {doc['apiVersion']} {doc['kind']}")
    return _PATHS[key].format(ns=(doc.get("metadata") or {}).get("namespace", "default"))


def apply(kube: Any, docs: Iterable[dict]) -> None:
    """Create each object, or replace it when it exists."""
    for doc in docs:
        path = path_for(doc)
        status, body = kube.request("POST", path, doc)
        if status == 409:
            current = kube.call("GET", f"{path}/{doc['metadata']['name']}")
            doc = {**doc, "metadata": {**doc["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
            kube.call("PUT", f"{path}/{doc['metadata']['name']}", doc)
        elif status >= 300:
            raise RuntimeError(f"creating {doc['kind']} {doc['metadata']['name']}: HTTP {status} {body}")


def delete(kube: Any, docs: Iterable[dict]) -> None:
    for doc in docs:
        kube.call("DELETE", f"{path_for(doc)}/{doc['metadata']['name']}", ok=(404,))


def load(path: str | Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
