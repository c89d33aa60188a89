"""The demo's workload: a few Deployments with mixed sizes, one arm64-only, one spot-only, one zonal spread."""

from __future__ import annotations

NAMESPACE = "shop"


def _deployment(name: str, replicas: int, cpu: str, memory: str, **spec) -> dict:
    pod_spec = {"containers": [{"name": name, "image": f"registry.local/{name}:1",
                                "resources": {"requests": {"cpu": cpu, "memory": memory}}}], **spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}}


def documents(scale: int = 1) -> list[dict]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        _deployment("frontend", 12 * scale, "500m", "512Mi"),
        _deployment("api", 6 * scale, "2", "4Gi"),
        _deployment("search", 2 * scale, "3", "12Gi"),
        _deployment("image-resizer", 6 * scale, "1", "2Gi", nodeSelector={"kubernetes.io/arch": "arm64"}),
        _deployment("batch-worker", 8 * scale, "1", "1Gi", nodeSelector={"capacity": "spot"}),
        _deployment("checkout", 6 * scale, "500m", "1Gi", topologySpreadConstraints=[
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
             "labelSelector": {"matchLabels": {"app": "checkout"}}}]),
    ]


def pod_count(scale: int = 1) -> int:
    return sum(d["spec"]["replicas"] for d in documents(scale) if d["kind"] == "Deployment")


# The demo's scale-down: spot batch work finishes (its nodes become empty), the others shrink
# (their nodes become underutilized and are consolidated).
SCALED_DOWN = {"frontend": 4, "api": 2, "search": 1, "image-resizer": 2, "batch-worker": 0, "checkout": 3}


def scaled_down(scale: int = 1) -> dict[str, int]:
    return {name: replicas * scale for name, replicas in SCALED_DOWN.items()}
