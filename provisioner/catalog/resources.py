"""Kubernetes resource quantities and an immutable resource vector.

CPU is held as integer millicores; memory, storage and every other resource as integer
units (bytes for memory/storage, counts for pods and extended resources). Fractions are
rounded up, as the scheduler does for requests.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Iterator, Mapping

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"
NVIDIA_GPU = "nvidia.com/gpu"
AMD_GPU = "amd.com/gpu"
NEURON = "aws.amazon.com/neuron"

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
            "P": Decimal(10**15), "E": Decimal(10**18)}


def parse_quantity(q: str | int | float) -> Decimal:
    """A Kubernetes quantity ("100m", "1.5Gi", "2e3", 4) as an exact Decimal."""
    if isinstance(q, (int, float)):
        return Decimal(str(q))
    s = str(q).strip()
    if not s:
        raise ValueError("empty quantity")
    for suffix, mult in _BINARY.items():
        if s.endswith(suffix):
            return _number(s[: -len(suffix)], q) * mult
    if s[-1] in _DECIMAL and not s[-1].isdigit():
        return _number(s[:-1], q) * _DECIMAL[s[-1]]
    return _number(s, q)


def _number(s: str, original: object) -> Decimal:
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise ValueError(f"invalid quantity {original!r}") from None
    if not d.is_finite():
        raise ValueError(f"invalid quantity {original!r}")
    return d


def parse_cpu(q: str | int | float) -> int:
    """CPU quantity as millicores, rounded up ("250m" -> 250, "1.5" -> 1500)."""
    return math.ceil(parse_quantity(q) * 1000)


def parse_bytes(q: str | int | float) -> int:
    """Memory/storage (or any count) quantity as an integer, rounded up."""
    return math.ceil(parse_quantity(q))


def parse_resource(name: str, q: str | int | float) -> int:
    return parse_cpu(q) if name == CPU else parse_bytes(q)


def format_cpu(millicores: int) -> str:
    return f"{millicores // 1000}" if millicores % 1000 == 0 else f"{millicores}m"


def format_bytes(n: int) -> str:
    for suffix in ("Ti", "Gi", "Mi", "Ki"):
        mult = _BINARY[suffix]
        if n and n % mult == 0:
            return f"{n // mult}{suffix}"
    return str(n)


def format_resource(name: str, value: int) -> str:
    if name == CPU:
        return format_cpu(value)
    if name in (MEMORY, EPHEMERAL_STORAGE) or name.startswith("hugepages-"):
        return format_bytes(value)
    return str(value)


class Resources(Mapping[str, int]):
    """Immutable, hashable mapping of resource name to integer amount (absent means 0)."""

    __slots__ = ("_d", "_hash")

    def __init__(self, values: Mapping[str, int] | None = None, **kw: int) -> None:
        d = {k: int(v) for k, v in (values or {}).items() if v}
        d.update({k: int(v) for k, v in kw.items() if v})
        self._d = d
        self._hash: int | None = None

    @classmethod
    def parse(cls, quantities: Mapping[str, str | int | float] | None) -> "Resources":
        """From a Kubernetes resource list ({"cpu": "500m", "memory": "1Gi"})."""
        return cls({k: parse_resource(k, v) for k, v in (quantities or {}).items()})

    def to_k8s(self) -> dict[str, str]:
        return {k: format_resource(k, v) for k, v in sorted(self._d.items())}

    def __getitem__(self, key: str) -> int:
        return self._d[key]

    def get(self, key: str, default: int = 0) -> int:  # type: ignore[override]
        return self._d.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._d.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Resources):
            return self._d == other._d
        if isinstance(other, Mapping):
            return self._d == {k: v for k, v in other.items() if v}
        return NotImplemented

    def __repr__(self) -> str:
        return f"Resources({self.to_k8s()})"

    def __add__(self, other: Mapping[str, int]) -> "Resources":
        d = dict(self._d)
        for k, v in other.items():
            d[k] = d.get(k, 0) + v
        return Resources(d)

    def __sub__(self, other: Mapping[str, int]) -> "Resources":
        d = dict(self._d)
        for k, v in other.items():
            d[k] = d.get(k, 0) - v
        return Resources(d)

    def scale(self, n: int) -> "Resources":
        return Resources({k: v * n for k, v in self._d.items()})

    def maximum(self, other: Mapping[str, int]) -> "Resources":
        keys = set(self._d) | set(other)
        return Resources({k: max(self._d.get(k, 0), other.get(k, 0)) for k in keys})

    def clamp_nonnegative(self) -> "Resources":
        return Resources({k: max(v, 0) for k, v in self._d.items()})

    def fits(self, capacity: Mapping[str, int]) -> bool:
        """True if every amount here is within `capacity` (missing capacity counts as 0)."""
        return all(v <= capacity.get(k, 0) for k, v in self._d.items() if v > 0)

    def exceeding(self, capacity: Mapping[str, int]) -> list[str]:
        """Resource names whose amount here exceeds `capacity`."""
        return sorted(k for k, v in self._d.items() if v > 0 and v > capacity.get(k, 0))
