"""Guardrails: the fleet limits a platform team sets per stack (stacks/guardrails/<stack>.yaml).

One source of truth read twice: the policy pack (policies/fleet-guard) enforces them on
every preview and update, and the planner reads them so it never proposes what the pack
would reject. The pack stays the backstop.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path

import yaml

from provisioner.fleet import ownership

POLICY_NAMES = (
    "allowed-instance-types", "max-nodes", "max-vcpu", "imdsv2-required", "encrypted-volumes", "no-public-ip",
    "ownership-tags",
)


@dataclass(frozen=True)
class Guardrails:
    allowed_families: tuple[str, ...] = ()  # empty: every family not denied
    denied_families: tuple[str, ...] = ()
    allowed_categories: tuple[str, ...] = ()
    denied_categories: tuple[str, ...] = ()
    max_nodes: int | None = None
    max_vcpu: int | None = None
    max_hop_limit: int = 1
    allow_public_ip: bool = False
    required_tags: tuple[str, ...] = ownership.REQUIRED_TAG_KEYS
    enforcement_level: str = "mandatory"

    def instance_type_problem(self, instance_type: str) -> str | None:
        """Why this type is not allowed, or None."""
        family = instance_type.split(".", 1)[0]
        category = instance_category(family)
        if family in self.denied_families:
            return f"family {family} is in deniedFamilies {list(self.denied_families)}"
        if category in self.denied_categories:
            return f"category {category} is in deniedCategories {list(self.denied_categories)}"
        if self.allowed_families and family not in self.allowed_families:
            return f"family {family} is not in allowedFamilies {list(self.allowed_families)}"
        if self.allowed_categories and category not in self.allowed_categories:
            return f"category {category} is not in allowedCategories {list(self.allowed_categories)}"
        return None

    def to_dict(self) -> dict:
        return {_camel(k): list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def policy_config(self) -> dict:
        """The Pulumi policy-pack config document: every policy gets the full guardrails."""
        props = {k: v for k, v in self.to_dict().items() if k != "enforcementLevel" and v is not None}
        return {name: {"enforcementLevel": self.enforcement_level, **props} for name in POLICY_NAMES}

    def write_policy_config(self, path: Path) -> Path:
        path.write_text(json.dumps(self.policy_config(), indent=2))
        return path


def instance_category(family: str) -> str:
    """The category letter(s) of a family name: m6i -> m, inf2 -> inf, p4d -> p."""
    out = ""
    for ch in family:
        if ch.isdigit():
            break
        out += ch
    return out


def from_dict(data: dict | None) -> Guardrails:
    data = data or {}
    known = {_camel(f.name): f for f in fields(Guardrails)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown guardrail field(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    kwargs = {}
    for key, value in data.items():
        f = known[key]
        if value is None:
            continue
        if f.type.startswith("tuple"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"guardrails.{key}: must be a list of strings")
            value = tuple(value)
        elif f.type.startswith("int"):
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # policy config arrives through protobuf Struct, where numbers are floats
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"guardrails.{key}: must be a non-negative integer")
        elif f.type == "bool" and not isinstance(value, bool):
            raise ValueError(f"guardrails.{key}: must be true or false")
        kwargs[f.name] = value
    if kwargs.get("enforcement_level", "mandatory") not in ("advisory", "mandatory", "disabled"):
        raise ValueError("guardrails.enforcementLevel: must be advisory, mandatory or disabled")
    return Guardrails(**kwargs)


def load_file(path: Path) -> Guardrails:
    return from_dict(yaml.safe_load(path.read_text()) if path.exists() else {})


def for_stack(stacks_dir: Path, stack: str) -> Guardrails:
    """stacks/guardrails/<stack>.yaml, else stacks/guardrails/default.yaml, else built-in defaults."""
    for candidate in (stacks_dir / "guardrails" / f"{stack}.yaml", stacks_dir / "guardrails" / "default.yaml"):
        if candidate.exists():
            return load_file(candidate)
    return Guardrails()


@lru_cache(maxsize=None)
def vcpus(instance_type: str) -> int:
    """vCPUs of an instance type from the bundled catalog (0 when unknown)."""
    from provisioner.catalog import ec2data

    item = ec2data.instance_type_items().get(instance_type)
    return int(item["VCpuInfo"]["DefaultVCpus"]) if item else 0


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)
