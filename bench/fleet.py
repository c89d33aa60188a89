"""Fleet spine benchmark: stack operation cost against fleet size, on the real engine.

For fleets of 10, 100 and 500 nodes: a no-op preview, an apply adding 10 nodes and an
apply removing 10 nodes, each timed end to end, with the stand-in provider's share of the
wall time (the union of the intervals in which at least one provider call was running).
Results: bench/results/fleet.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

SIZES = tuple(int(s) for s in os.environ.get("BENCH_FLEET_SIZES", "10,100,500").split(","))
RESULTS = Path(__file__).parent / "results" / "fleet.json"


def provider_busy_seconds(log: Path) -> tuple[float, float, int]:
    """(union of provider call intervals, sum of call durations, calls) from the stand-in's call log."""
    intervals = []
    if log.exists():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            if "ms" in rec:
                end = rec["ts"]
                intervals.append((end - rec["ms"] / 1000, end))
    intervals.sort()
    union, cur_start, cur_end = 0.0, None, None
    for start, end in intervals:
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                union += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        union += cur_end - cur_start
    return union, sum(e - s for s, e in intervals), len(intervals)


def measure(label: str, fn, log: Path) -> dict:
    log.unlink(missing_ok=True)
    start = time.monotonic()
    fn()
    wall = time.monotonic() - start
    busy, total, calls = provider_busy_seconds(log)
    row = {"op": label, "seconds": round(wall, 2), "provider_busy_seconds": round(busy, 2),
           "provider_share": round(busy / wall, 3) if wall else 0.0, "provider_calls": calls,
           "provider_call_seconds_sum": round(total, 2)}
    print(f"  {label:<28} {wall:7.2f}s  provider busy {busy:6.2f}s ({row['provider_share']:.0%}), {calls} calls",
          flush=True)
    return row


def run_size(ec2, seed, size: int, tmp: Path) -> dict:
    from provisioner.fleet.samples import sample_desired
    from provisioner.stack.operations import FleetStack
    from provisioner.stack.target import LocalCloud, StackTarget

    cluster = f"bench{size}"
    log = tmp / f"provider-{size}.log"
    target = StackTarget(stack=f"bench-{size}-{int(time.time())}", region=seed.region,
                         local_cloud=LocalCloud(ec2.endpoint, seed.region),
                         extra_env={"PROVISIONER_PROVIDER_LOG": str(log)})
    guardrails = target.stacks_dir / "guardrails" / f"{target.stack}.yaml"
    guardrails.write_text("maxNodes: 10000\nmaxVcpu: 100000\n")  # the default caps a fleet at 500 nodes
    fleet = FleetStack(target)
    big = sample_desired(seed, size + 10, cluster)
    base = big.with_nodes(big.nodes[:size])
    print(f"fleet of {size} nodes", flush=True)
    try:
        rows = [
            measure(f"initial apply (+{size})", lambda: fleet.apply(base, f"bench: +{size}"), log),
            measure("no-op preview", lambda: fleet.preview(base), log),
            measure("apply adding 10 nodes", lambda: fleet.apply(big, "bench: +10"), log),
            measure("apply removing 10 nodes", lambda: fleet.apply(base, "bench: -10"), log),
        ]
        state_bytes = len(json.dumps(fleet.export()))
    finally:
        (target.stacks_dir / f"Pulumi.{target.stack}.yaml").unlink(missing_ok=True)
        guardrails.unlink(missing_ok=True)
    return {"nodes": size, "state_bytes": state_bytes, "operations": rows}


def main() -> None:
    from provisioner.localcloud.ec2 import LocalEC2

    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        os.environ["PROVISIONER_HOME"] = str(Path(tmp) / "home")
        with LocalEC2(Path(tmp) / "ec2") as ec2:
            seed = ec2.seed()
            results = [run_size(ec2, seed, size, Path(tmp)) for size in SIZES]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # Merge by size so that sizes can be measured in separate runs (BENCH_FLEET_SIZES).
    previous = json.loads(RESULTS.read_text())["sizes"] if RESULTS.exists() else []
    merged = {r["nodes"]: r for r in previous} | {r["nodes"]: r for r in results}
    RESULTS.write_text(json.dumps({"sizes": [merged[k] for k in sorted(merged)], "machine_cores": os.cpu_count(),
                                   "python": sys.version.split()[0]}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
