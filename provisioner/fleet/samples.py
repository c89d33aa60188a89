"""Sample desired node sets for the local cloud (demo, docs, benchmarks)."""

from __future__ import annotations

from provisioner.fleet.desired import DesiredNode, DesiredNodeSet, NodeClassSettings

# Ranked candidates per shape: EC2 falls back along the list on a capacity error.
SHAPES = (
    ("spot", "amd64", ("m6i.large", "m5.large", "m6a.large")),
    ("on-demand", "amd64", ("c6i.xlarge", "c5.xlarge")),
    ("spot", "arm64", ("m7g.large", "m6g.large")),
)


def sample_desired(seed, nodes: int, cluster: str = "local", zones: int = 3) -> DesiredNodeSet:
    """`nodes` nodes cycling through SHAPES, spread over the first `zones` zones of the local EC2 seed."""
    node_class = NodeClassSettings(
        name="default", amis=dict(seed.amis), subnets=dict(seed.subnets),
        security_group_ids=tuple(seed.security_group_ids),
        tags={"team": "platform"},
    )
    zone_list = sorted(seed.subnets)[:zones]
    out = []
    for i in range(nodes):
        capacity, arch, types = SHAPES[i % len(SHAPES)]
        out.append(DesiredNode(
            name=f"{cluster}-node-{i:04d}", node_pool="default", node_class="default", instance_types=types,
            capacity_type=capacity, zones=tuple(zone_list[i % len(zone_list):] + zone_list[:i % len(zone_list)]),
            architecture=arch, labels={"workload": "general"},
            reason=f"sample node {i} ({capacity} {arch})",
        ))
    return DesiredNodeSet(cluster=cluster, region=seed.region, node_classes={"default": node_class}, nodes=tuple(out))
