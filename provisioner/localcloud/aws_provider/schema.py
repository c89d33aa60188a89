"""A tiny field schema: validates Pulumi (camelCase) properties and maps them to/from EC2 API shapes.

One table per resource type describes each supported property once: its EC2 name, its type and
its allowed values. Check, Create and Read all use it, so validation and mapping cannot drift.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from provisioner.localcloud.aws_provider.shared import CheckFailure, is_unknown


class Kind:
    """Base of field kinds: validate a Pulumi value, map it to EC2 and back."""

    def validate(self, value: Any, path: str, failures: list[CheckFailure]) -> None:
        raise NotImplementedError

    def to_aws(self, value: Any) -> Any:
        return value

    def from_aws(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Str(Kind):
    enum: tuple[str, ...] = ()
    base64: bool = False
    max_len: int = 0

    def validate(self, value: Any, path: str, failures: list[CheckFailure]) -> None:
        if not isinstance(value, str):
            failures.append(CheckFailure(path, f"{path}: expected a string, got {type(value).__name__}"))
            return
        if self.enum and value not in self.enum:
            failures.append(CheckFailure(path, f"{path}: expected one of {list(self.enum)}, got {value!r}"))
        if self.max_len and len(value) > self.max_len:
            failures.append(CheckFailure(path, f"{path}: at most {self.max_len} characters, got {len(value)}"))
        if self.base64:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                failures.append(CheckFailure(path, f"{path}: must be base64-encoded"))


@dataclass(frozen=True)
class Num(Kind):
    integer: bool = True
    minimum: float | None = None
    maximum: float | None = None

    def validate(self, value: Any, path: str, failures: list[CheckFailure]) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            failures.append(CheckFailure(path, f"{path}: expected a number, got {type(value).__name__}"))
            return
        if self.integer and float(value) != int(value):
            failures.append(CheckFailure(path, f"{path}: expected an integer, got {value}"))
        if self.minimum is not None and value < self.minimum:
            failures.append(CheckFailure(path, f"{path}: must be >= {self.minimum:g}, got {value}"))
        if self.maximum is not None and value > self.maximum:
            failures.append(CheckFailure(path, f"{path}: must be <= {self.maximum:g}, got {value}"))

    def to_aws(self, value: Any) -> Any:
        return int(value) if self.integer else float(value)

    def from_aws(self, value: Any) -> Any:
        return int(value) if self.integer else float(value)


@dataclass(frozen=True)
class Bool(Kind):
    """A boolean; `as_string` for pulumi-aws properties typed as "true"/"false" strings."""

    as_string: bool = False

    def validate(self, value: Any, path: str, failures: list[CheckFailure]) -> None:
        if isinstance(value, bool):
            return
        if self.as_string and isinstance(value, str) and value.lower() in ("true", "false"):
            return
        expected = '"true" or "false"' if self.as_string else "a boolean"
        failures.append(CheckFailure(path, f"{path}: expected {expected}, got {value!r}"))

    def to_aws(self, value: Any) -> Any:
        return value if isinstance(value, bool) else str(value).lower() == "true"

    def from_aws(self, value: Any) -> Any:
        flag = value if isinstance(value, bool) else str(value).lower() == "true"
        return ("true" if flag else "false") if self.as_string else flag


@dataclass(frozen=True)
class ListOf(Kind):
    item: Kind
    max_items: int = 0

    def validate(self, value: Any, path: str, failures: list[CheckFailure]) -> None:
        if not isinstance(value, list):
            failures.append(CheckFailure(path, f"{path}: expected a list, got {type(value).__name__}"))
            return
        if self.max_items and len(value) > self.max_items:
            failures.append(CheckFailure(path, f"{path}: at most {self.max_items} items, got {len(value)}"))
        for i, item in enumerate(value):
            if not is_unknown(item):
                self.item.validate(item, f"{path}[{i}]", failures)

    def to_aws(self, value: Any) -> Any:
        return [self.item.to_aws(v) for v in value]

    def from_aws(self, value: Any) -> Any:
        return [self.item.from_aws(v) for v in value]


@dataclass(frozen=True)
class Tags(Kind):
    """A Pulumi tag map; EC2 spells it [{"Key", "Value"}]."""

    def validate(self, value: Any, path: str, failures: list[CheckFailure]) -> None:
        if not isinstance(value, dict):
            failures.append(CheckFailure(path, f"{path}: expected a map of strings"))
            return
        for key, val in value.items():
            if not is_unknown(val) and not isinstance(val, str):
                failures.append(CheckFailure(f"{path}.{key}", f"{path}.{key}: tag values must be strings"))
            if key.lower().startswith("aws:"):
                failures.append(CheckFailure(f"{path}.{key}", f"{path}.{key}: the aws: prefix is reserved"))

    def to_aws(self, value: Any) -> Any:
        return [{"Key": k, "Value": v} for k, v in value.items()]

    def from_aws(self, value: Any) -> Any:
        return {t["Key"]: t["Value"] for t in value}


@dataclass(frozen=True)
class F:
    """One property: its EC2 name and kind."""

    aws: str
    kind: Kind
    required: bool = False


@dataclass(frozen=True)
class Obj(Kind):
    fields: dict[str, F] = field(default_factory=dict)

    def validate(self, value: Any, path: str, failures: list[CheckFailure]) -> None:
        if not isinstance(value, dict):
            failures.append(CheckFailure(path, f"{path}: expected an object, got {type(value).__name__}"))
            return
        validate_props(value, self.fields, failures, prefix=path + ".")

    def to_aws(self, value: Any) -> Any:
        return to_aws(value, self.fields)

    def from_aws(self, value: Any) -> Any:
        return from_aws(value, self.fields)


def validate_props(props: dict[str, Any], fields: dict[str, F], failures: list[CheckFailure],
                   prefix: str = "", extra: tuple[str, ...] = ()) -> None:
    for name, value in props.items():
        path = prefix + name
        if name not in fields:
            if name not in extra and value is not None:
                failures.append(CheckFailure(path, f"{path}: not supported by the local stand-in provider"))
            continue
        if value is None or is_unknown(value):
            continue
        fields[name].kind.validate(value, path, failures)
    for name, spec in fields.items():
        if spec.required and props.get(name) is None:
            failures.append(CheckFailure(prefix + name, f"Missing required property '{prefix + name}'"))


def to_aws(props: dict[str, Any], fields: dict[str, F]) -> dict[str, Any]:
    return {spec.aws: spec.kind.to_aws(props[name]) for name, spec in fields.items() if props.get(name) is not None}


def from_aws(data: dict[str, Any], fields: dict[str, F]) -> dict[str, Any]:
    return {name: spec.kind.from_aws(data[spec.aws]) for name, spec in fields.items() if data.get(spec.aws) is not None}
