"""Build a SchedulingInput from Kubernetes YAML documents (what `provisioner simulate` reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

from provisioner.api import load_documents
from provisioner.catalog.catalog import Catalog, load_local_catalog
from provisioner.catalog.pricing import LocalPriceSource
from provisioner.scheduling.convert import daemonset_from_k8s, node_from_k8s, pod_from_k8s, volume_zones_from_k8s
from provisioner.scheduling.model import Node
from provisioner.scheduling.plan import SchedulingInput


def read_documents(path: str | Path | None) -> list[dict[str, Any]]:
    """All documents of a YAML/JSON file: multi-document and `kind: List` are flattened."""
    if path is None:
        return []
    out: list[dict[str, Any]] = []

    def flat(doc: Any) -> None:
        if isinstance(doc, dict) and isinstance(doc.get("items"), list) and str(doc.get("kind", "")).endswith("List"):
            for item in doc["items"]:
                flat(item)
        elif isinstance(doc, dict):
            out.append(doc)

    for doc in yaml.safe_load_all(Path(path).read_text()):
        flat(doc)
    return out


def _of_kind(docs: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind", kind) == kind]


def _price_existing(nodes: list[Node], catalog: Catalog) -> list[Node]:
    prices = LocalPriceSource(catalog.region)
    out = []
    for n in nodes:
        it = n.labels.get("node.kubernetes.io/instance-type")
        zone = n.labels.get("topology.kubernetes.io/zone", "")
        ct = n.labels.get("karpenter.sh/capacity-type") or n.labels.get("provisioner.sh/capacity-type")
        price = (prices.spot(it, zone) if ct == "spot" else prices.on_demand(it)) if it else None
        out.append(Node(n.name, n.labels, n.allocatable, n.taints, n.in_flight, n.unschedulable, price or 0.0))
    return out


def input_from_documents(nodepool_docs: list[dict], pod_docs: list[dict], nodeclass_docs: list[dict] | None = None,
                         node_docs: list[dict] | None = None, daemonset_docs: list[dict] | None = None,
                         region: str = "us-east-1", catalog: Catalog | None = None) -> SchedulingInput:
    pools, classes = load_documents(list(nodepool_docs) + list(nodeclass_docs or []))
    catalog = catalog or load_local_catalog(region)
    zones = volume_zones_from_k8s(pod_docs)
    pods = tuple(pod_from_k8s(d, zones) for d in _of_kind(pod_docs, "Pod")
                 if (d.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))
    nodes = _price_existing([node_from_k8s(d) for d in _of_kind(node_docs or [], "Node")], catalog)
    daemonsets = tuple(daemonset_from_k8s(d) for d in _of_kind(daemonset_docs or [], "DaemonSet"))
    return SchedulingInput(pods=pods, nodepools=tuple(pools), catalog=catalog, nodeclasses=tuple(classes),
                           nodes=tuple(nodes), daemonsets=daemonsets)
