"""Node names and workload names as people read them."""

from __future__ import annotations

import random
import string
from collections import Counter
from typing import Iterable

from provisioner.state.kinds import Obj


def new_node_name(pool: str, taken: set[str], rng: random.Random | None = None) -> str:
    """`<nodepool>-<5 random lowercase letters>`, not in `taken` (which it extends)."""
    rng = rng or random.SystemRandom()
    while True:
        name = f"{pool}-{''.join(rng.choice(string.ascii_lowercase) for _ in range(5))}"
        if name not in taken:
            taken.add(name)
            return name


def workload_of(pod: Obj) -> str:
    """`namespace/name` of the pod's controller: a Deployment's name for ReplicaSet pods."""
    meta = pod["metadata"]
    ns = meta.get("namespace", "default")
    owner = next((o for o in meta.get("ownerReferences") or () if o.get("controller", True)), None)
    if owner is None:
        return f"{ns}/{meta['name']}"
    name = owner.get("name", "")
    template_hash = (meta.get("labels") or {}).get("pod-template-hash")
    if owner.get("kind") == "ReplicaSet" and template_hash and name.endswith("-" + template_hash):
        name = name[: -len(template_hash) - 1]
    return f"{ns}/{name}"


def workloads_text(pods: Iterable[Obj], limit: int = 3) -> str:
    counts = Counter(workload_of(p) for p in pods)
    names = [w for w, _ in counts.most_common()]
    text = ", ".join(names[:limit])
    return text + (f" +{len(names) - limit} more" if len(names) > limit else "")
