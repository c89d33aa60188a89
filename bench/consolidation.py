"""Consolidation benchmark, pure simulation (no cluster, no cloud).

(a) Decision time of one consolidation pass on synthetic clusters of 100 and 500 registered
    on-demand nodes (m5/c5/r5, large to 2xlarge, three zones, the sample default NodePool), ~10
    pods each (plus one DaemonSet pod) at 30-60% of the node, every node a candidate.
(b) Karpenter's consolidation case: 1,000 pods of Karpenter's mix without hostname anti-affinity
    planned by `simulate` into a fleet, 300 pods deleted (1,000 -> 700), then consolidate()
    applied in memory until it finds nothing (nodes removed, the replacement added, the moved pods
    rebound where a fresh simulation of the real cluster puts them). Reports passes, decision
    time, cost before and after, and the allocator's lower bound for the 700 pods (simulate with
    compute_bound, the 700 pods pending) and the gap to it.

    python -m bench.consolidation
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from pathlib import Path

from provisioner.api import NodeClass, load_yaml
from provisioner.catalog import allocatable as alloc
from provisioner.catalog.catalog import load_local_catalog
from provisioner.catalog.labels import node_labels
from provisioner.disruption.consolidation import Command, consolidate
from provisioner.fleet.desired import DesiredNodeSet, NodeClassSettings
from provisioner.provisioning import planner
from provisioner.scheduling import SchedulingInput, simulate
from provisioner.scheduling.convert import pod_from_k8s

RESULTS = Path(__file__).parent / "results" / "consolidation.json"
SAMPLE = Path(__file__).resolve().parents[1] / "stacks" / "samples" / "default.yaml"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
TYPES = ("m5.large", "m5.xlarge", "m5.2xlarge", "c5.large", "c5.xlarge", "c5.2xlarge", "r5.large", "r5.xlarge",
         "r5.2xlarge")


def settings(zones) -> dict[str, NodeClassSettings]:
    return {"default": NodeClassSettings(name="default", amis={"amd64": "ami-1", "arm64": "ami-2"},
                                         subnets={z: f"subnet-{z}" for z in zones}, security_group_ids=("sg-1",))}


def node_obj(name: str, itype: str, zone: str, ct: str, catalog, pool: str = "default") -> dict:
    it = catalog.instance_types[itype]
    return {"metadata": {"name": name, "labels": node_labels(it, zone, catalog.region, ct, pool, hostname=name)},
            "spec": {"providerID": f"aws:///{zone}/i-{name}"},
            "status": {"allocatable": alloc.allocatable(it).to_k8s(),
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod_obj(name: str, node: str | None, cpu_m: int, mem: int, app: str, daemonset: bool = False, **spec) -> dict:
    owner = {"kind": "DaemonSet", "name": app} if daemonset else {"kind": "ReplicaSet", "name": f"{app}-rs"}
    return {"metadata": {"name": name, "namespace": "bench", "labels": {"app": app}, "ownerReferences": [owner]},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {
                "cpu": f"{cpu_m}m", "memory": str(mem)}}}], **spec},
            "status": {"phase": "Running"}}


CPU_SIZES = (50, 100, 200, 300, 500, 750)  # millicores: Deployments' requests come in a few shapes
MEM_SIZES = tuple(m << 20 for m in (128, 256, 512, 1024, 2048, 3072))


def _nearest(sizes: tuple[int, ...], target: float) -> int:
    return min(range(len(sizes)), key=lambda i: abs(sizes[i] - target))


def synthetic(n: int, catalog, seed: int = 7) -> planner.World:
    """n on-demand nodes, each with one DaemonSet pod and 10 pods of Deployments (one per request
    shape) filling 30-60% of it."""
    rng = random.Random(seed)
    pools, classes = load_yaml(SAMPLE)
    nodes, pods = [], []
    for i in range(n):
        name = f"node-{i:04d}"
        itype = rng.choice(TYPES)
        nodes.append(node_obj(name, itype, ZONES[i % len(ZONES)], "on-demand", catalog))
        a = alloc.allocatable(catalog.instance_types[itype])
        util = rng.uniform(0.3, 0.6)
        pods.append(pod_obj(f"ds-{name}", name, 50, 64 << 20, "logging", daemonset=True))
        for j in range(10):
            c = _nearest(CPU_SIZES, (a["cpu"] - 50) * util / 10 * rng.uniform(0.8, 1.25))
            m = _nearest(MEM_SIZES, a["memory"] * util / 10 * rng.uniform(0.8, 1.25))
            pods.append(pod_obj(f"app-{i}-{j}", name, CPU_SIZES[c], MEM_SIZES[m], f"app-{c}-{m}"))
    return planner.World(pods=tuple(pods), nodes=tuple(nodes), nodepools=tuple(pools), nodeclasses=tuple(classes),
                         settings=settings(ZONES), desired=DesiredNodeSet("bench", "us-east-1", {}, ()))


def fleet_cost(world: planner.World, catalog) -> float:
    prices = planner._prices(catalog)
    return sum(planner._node_price(prices, n) for n in world.nodes)


def one_pass(sizes=(100, 500)) -> list[dict]:
    catalog = load_local_catalog("us-east-1", zones=ZONES)
    rows = []
    for n in sizes:
        world = synthetic(n, catalog)
        names = [x["metadata"]["name"] for x in world.nodes]
        t0 = time.perf_counter()
        cmd = consolidate(world, catalog, names)
        seconds = time.perf_counter() - t0
        again = consolidate(world, catalog, names)
        row = {"nodes": n, "pods": sum(1 for p in world.pods if "ds-" not in p["metadata"]["name"]),
               "seconds": round(seconds, 3), "cost_per_hour": round(fleet_cost(world, catalog), 4),
               "command": _cmd_json(cmd), "deterministic": again == cmd}
        rows.append(row)
        print(f"one pass {n:4d} nodes: {seconds:6.2f}s  {_cmd_text(cmd)}", flush=True)
    return rows


def _cmd_json(cmd: Command | None) -> dict | None:
    if cmd is None:
        return None
    return {"nodes_removed": len(cmd.nodes), "replacement": None if cmd.replacement is None else {
        "instance_type": cmd.replacement.instance_types[0], "capacity_type": cmd.replacement.capacity_type,
        "price_per_hour": round(cmd.replacement.price_per_hour, 4)},
        "pods_moved": len(cmd.pods), "savings_per_hour": round(cmd.savings_per_hour, 4),
        "explanation": cmd.explanation}


def _cmd_text(cmd: Command | None) -> str:
    if cmd is None:
        return "no command"
    return f"-{len(cmd.nodes)} nodes, {len(cmd.pods)} pods move, saves ${cmd.savings_per_hour:.3f}/h: {cmd.explanation}"


def apply(world: planner.World, cmd: Command, catalog, serial: int) -> planner.World:
    """The cluster after the command: nodes gone, the replacement registered, the moved pods
    bound where the simulation of the real cluster (the moved pods pending) puts them."""
    gone = set(cmd.nodes)
    nodes = [n for n in world.nodes if n["metadata"]["name"] not in gone]
    if cmd.replacement is not None:
        r = cmd.replacement
        nodes.append(node_obj(f"repl-{serial:03d}", r.instance_types[0], r.zone, r.capacity_type, catalog,
                              r.node_pool))
    moved = set(cmd.pods)
    pending = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                   "reason": "Unschedulable"}]}
    pods = [p for p in world.pods if p["spec"].get("nodeName") not in gone or f"bench/{p['metadata']['name']}" in moved]
    pods = [{**p, "spec": {**p["spec"], "nodeName": None}, "status": pending}
            if f"bench/{p['metadata']['name']}" in moved else p for p in pods]
    mid = replace(world, pods=tuple(pods), nodes=tuple(nodes))
    inp, _ = planner.scheduling_input(mid, catalog, None, "us-east-1")
    plan = simulate(replace(inp, compute_bound=False))
    if plan.new_nodes or plan.unschedulable:
        raise AssertionError(f"command not executable: {len(plan.new_nodes)} new nodes, "
                             f"{len(plan.unschedulable)} unschedulable")
    placed = {k: v for k, v in plan.placements.items()}
    pods = [{**p, "spec": {**p["spec"], "nodeName": placed[f"bench/{p['metadata']['name']}"]},
             "status": {"phase": "Running"}} if f"bench/{p['metadata']['name']}" in moved else p for p in pods]
    return replace(mid, pods=tuple(pods))


def karpenter_case(total: int = 1000, delete: int = 300, seed: int = 3) -> dict:
    from bench.scheduling import KINDS, make_pods, nodepool

    catalog = load_local_catalog("us-east-1")
    pool = nodepool()
    docs = make_pods(total, KINDS[:4], seed=seed)
    plan = simulate(SchedulingInput(pods=tuple(pod_from_k8s(d) for d in docs), nodepools=(pool,), catalog=catalog,
                                    compute_bound=False))
    assert not plan.unschedulable
    names = {pn.name: f"n-{i:04d}" for i, pn in enumerate(plan.new_nodes)}
    nodes = [node_obj(names[pn.name], pn.instance_type, pn.zone, pn.capacity_type, catalog, pool.name)
             for pn in plan.new_nodes]
    pods = [{**d, "metadata": {**d["metadata"], "ownerReferences": [{"kind": "ReplicaSet", "name": "rs"}]},
             "spec": {**d["spec"], "nodeName": names[plan.placements[f"bench/{d['metadata']['name']}"]]},
             "status": {"phase": "Running"}} for d in docs]
    keep = sorted(random.Random(seed).sample(range(total), total - delete))
    pods = [pods[i] for i in keep]
    world = planner.World(pods=tuple(pods), nodes=tuple(nodes), nodepools=(pool,),
                          nodeclasses=(NodeClass(name="default"),), settings=settings(catalog.zones),
                          desired=DesiredNodeSet("bench", "us-east-1", {}, ()))
    cost_1000 = fleet_cost(world, catalog)
    passes, decision, steps = 0, 0.0, []
    while True:
        names_now = [n["metadata"]["name"] for n in world.nodes]
        t0 = time.perf_counter()
        cmd = consolidate(world, catalog, names_now)
        dt = time.perf_counter() - t0
        decision += dt
        if cmd is None:
            break
        passes += 1
        steps.append({"seconds": round(dt, 3), **_cmd_json(cmd)})
        print(f"  pass {passes:2d} {dt:6.2f}s  {_cmd_text(cmd)}", flush=True)
        world = apply(world, cmd, catalog, passes)
    after = fleet_cost(world, catalog)
    fresh = simulate(SchedulingInput(pods=tuple(pod_from_k8s({**d, "spec": {**d["spec"], "nodeName": None}})
                                                for d in pods), nodepools=(pool,), catalog=catalog))
    out = {"pods_planned": total, "pods_after_delete": total - delete, "mix": "karpenter mix without hostname "
           "anti-affinity", "nodes_before": len(nodes), "nodes_after": len(world.nodes),
           "cost_before_per_hour": round(cost_1000, 4), "cost_after_per_hour": round(after, 4),
           "passes": passes, "decision_seconds_total": round(decision, 3), "final_no_command_seconds": round(dt, 3),
           "lower_bound_700_per_hour": round(fresh.lower_bound_per_hour, 4),
           "fresh_plan_700_per_hour": round(fresh.cost_per_hour, 4),
           "gap_after_to_bound": round((after - fresh.lower_bound_per_hour) / after, 4) if after else 0.0,
           "steps": steps}
    print(f"karpenter case: {len(nodes)} -> {len(world.nodes)} nodes, ${cost_1000:.3f}/h -> ${after:.3f}/h in "
          f"{passes} passes ({decision:.1f}s); bound ${fresh.lower_bound_per_hour:.3f}/h, gap "
          f"{out['gap_after_to_bound']:.1%}; a fresh plan of the 700 pods: ${fresh.cost_per_hour:.3f}/h", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    start = time.perf_counter()
    result = {"one_pass": one_pass(), "karpenter_case": karpenter_case()}
    result["bench_seconds"] = round(time.perf_counter() - start, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS} ({result['bench_seconds']}s)")


if __name__ == "__main__":
    main()
