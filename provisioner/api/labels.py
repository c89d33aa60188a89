"""Which label keys a NodePool may set in template labels or select on in requirements.

Keys under a restricted domain (or a subdomain of it) belong to the system that writes them
on the node; only the well-known ones, which describe the instance, may be selected or set.
The same rules are emitted as CEL for the CRDs (`cel_rules`), so both sides stay in step.
"""

from __future__ import annotations

from typing import Callable

RESTRICTED_DOMAINS = ("kubernetes.io", "k8s.io", "karpenter.sh", "karpenter.k8s.aws", "provisioner.sh")
# Subdomains of a restricted domain that stay open to users, as in Kubernetes itself.
EXCEPTION_DOMAINS = ("node.kubernetes.io", "node-restriction.kubernetes.io", "kops.k8s.io")

_INSTANCE_SUFFIXES = (
    "family", "category", "generation", "size", "cpu", "cpu-manufacturer",
    "cpu-sustained-clock-speed-mhz", "memory", "ebs-bandwidth", "network-bandwidth",
    "gpu-name", "gpu-manufacturer", "gpu-count", "gpu-memory", "accelerator-name",
    "accelerator-manufacturer", "accelerator-count", "hypervisor",
    "encryption-in-transit-supported", "local-nvme",
)
WELL_KNOWN_LABELS = frozenset(
    (
        "kubernetes.io/arch", "kubernetes.io/os",
        "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
        "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
        "karpenter.sh/capacity-type", "provisioner.sh/capacity-type",
    )
    + tuple(f"provisioner.sh/instance-{s}" for s in _INSTANCE_SUFFIXES)
    + tuple(f"karpenter.k8s.aws/instance-{s}" for s in _INSTANCE_SUFFIXES)
)
# Set by the system for every node, never by a NodePool.
FORBIDDEN_LABELS = (
    "kubernetes.io/hostname", "karpenter.sh/nodepool", "karpenter.k8s.aws/ec2nodeclass",
    "provisioner.sh/nodepool", "provisioner.sh/nodeclass",
)


def _domain(key: str) -> str:
    return key.split("/", 1)[0] if "/" in key else ""


def _under(domain: str, parent: str) -> bool:
    return domain == parent or domain.endswith("." + parent)


def restricted_reason(key: str) -> str | None:
    """Why `key` may not be used by a NodePool, or None when it may."""
    if key in FORBIDDEN_LABELS:
        return f'label "{key}" is restricted'
    if key in WELL_KNOWN_LABELS:
        return None
    domain = _domain(key)
    if any(_under(domain, e) for e in EXCEPTION_DOMAINS):
        return None
    for restricted in RESTRICTED_DOMAINS:
        if _under(domain, restricted):
            return f'label domain "{restricted}" is restricted'
    return None


def _allowed_in(key: str, restricted: str) -> bool:
    domain = _domain(key)
    # Forbidden keys have their own rule; one message per key is enough on the Python side.
    return (key in WELL_KNOWN_LABELS or key in FORBIDDEN_LABELS or not _under(domain, restricted)
            or any(_under(domain, e) for e in EXCEPTION_DOMAINS))


def _cel_list(items: tuple[str, ...] | frozenset[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in sorted(items)) + "]"


def _cel_under(var: str, parent: str) -> str:
    d = f"{var}.find('^[^/]+/')"
    return f"({d} == '{parent}/' || {d}.endsWith('.{parent}/'))"


def cel_rules(var: str) -> list[tuple[str, str, Callable[[str], bool]]]:
    """(CEL expression over the key `var`, message, Python predicate) for each rule; True = allowed."""
    rules = [
        (f"!({var} in {_cel_list(FORBIDDEN_LABELS)})", "label is restricted",
         lambda k: k not in FORBIDDEN_LABELS),
    ]
    for restricted in RESTRICTED_DOMAINS:
        known = tuple(w for w in WELL_KNOWN_LABELS if _under(_domain(w), restricted))
        exempt = [f"{var} in {_cel_list(known)}"] if known else []
        exempt += [_cel_under(var, e) for e in EXCEPTION_DOMAINS if _under(e, restricted)]
        expr = " || ".join([f"!{_cel_under(var, restricted)}"] + exempt)
        rules.append((expr, f'label domain "{restricted}" is restricted',
                      lambda k, r=restricted: _allowed_in(k, r)))
    return rules
