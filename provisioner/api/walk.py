"""Validate and default a document against a schema from `provisioner.api.schema`.

Mirrors what the API server does with the CRD: unknown fields are rejected (strict field
validation), defaults are filled in, then each node's CEL rules run through their Python
twins. A node's rules run only when everything below it passed the plain schema (rule
failures below do not count), so a rule never trips over a malformed field and one
mistake gives one error rather than a cascade.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from provisioner.api.schema import Schema

_TYPES = {"string": (str,), "integer": (int,), "boolean": (bool,), "object": (dict,), "array": (list,),
          "number": (int, float)}
_NAMES = {str: "string", int: "integer", bool: "boolean", dict: "object", list: "list", float: "number",
          type(None): "null"}


def show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_ok(value: Any, schema: Schema) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    kind = schema.get("type")
    if kind is None:
        return True
    if isinstance(value, bool) and kind != "boolean":
        return False
    return isinstance(value, _TYPES[kind])


class Errors(list):
    """Error strings, plus a count of the plain-schema ones (those block the rules above them)."""

    schema = 0

    def fail(self, message: str) -> None:
        self.append(message)
        self.schema += 1


def walk(schema: Schema, value: Any, path: str, errors: list[str]) -> Any:
    """Return `value` with defaults applied; append `path: reason` strings to `errors`."""
    if not isinstance(errors, Errors):
        collected = Errors()
        value = walk(schema, value, path, collected)
        errors.extend(collected)
        return value
    before = errors.schema
    if schema.get("x-kubernetes-int-or-string") and _type_ok(value, schema):
        branch = schema["anyOf"][1 if isinstance(value, str) else 0]
        schema = {**{k: v for k, v in schema.items() if k not in ("anyOf", "x-kubernetes-int-or-string")},
                  **branch}
    if not _type_ok(value, schema):
        want = "integer or string" if schema.get("x-kubernetes-int-or-string") else schema["type"]
        if want == "array":
            want = "list"
        errors.fail(f"{path}: must be {'an' if want[0] in 'aeiou' else 'a'} {want}, "
                    f"not {_NAMES.get(type(value), type(value).__name__)} {show(value)}")
        return value
    if isinstance(value, dict):
        value = _walk_object(schema, value, path, errors)
    elif isinstance(value, list):
        value = [walk(schema["items"], v, f"{path}[{i}]", errors) for i, v in enumerate(value)]
        if schema.get("x-kubernetes-list-type") == "set":
            for i, v in enumerate(value):
                if v in value[:i]:
                    errors.fail(f"{path}[{i}]: duplicate value {show(v)}")
        _bounds(len(value), schema, "minItems", "maxItems", path, errors, "item")
    elif isinstance(value, str):
        _check_string(schema, value, path, errors)
    elif isinstance(value, int):
        if "minimum" in schema and value < schema["minimum"]:
            errors.fail(f"{path}: {value} is less than the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.fail(f"{path}: {value} is more than the maximum {schema['maximum']}")
    if errors.schema == before:
        for rule in schema.get("x-kubernetes-validations", ()):
            verdict = rule.check(value)
            if verdict is False:
                errors.append(f"{path}: {rule.message}")
            elif isinstance(verdict, str):
                errors.append(f"{path}: {verdict}")
            elif isinstance(verdict, dict):
                errors.extend(f'{path}["{k}"]: {m}' for k, m in verdict.items())
    return value


def _walk_object(schema: Schema, value: dict, path: str, errors: Errors) -> dict:
    out = dict(value)
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    for name in schema.get("required", ()):
        if name not in value and "default" not in (props or {}).get(name, {}):
            errors.fail(f"{_join(path, name)}: required")
    for name, item in value.items():
        if not isinstance(name, str):
            errors.fail(f"{path}: key {show(name)} must be a string")
        elif props is not None and name in props:
            out[name] = walk(props[name], item, _join(path, name), errors)
        elif isinstance(extra, dict):
            out[name] = walk(extra, item, f'{path}["{name}"]', errors)
        elif props is not None:
            errors.fail(f"{_join(path, name)}: unknown field")
    for name, prop in (props or {}).items():
        if name not in value and "default" in prop:
            out[name] = walk(prop, copy.deepcopy(prop["default"]), _join(path, name), errors)
    _bounds(len(value), schema, "minProperties", "maxProperties", path, errors, "entry", "entries")
    return out


def _check_string(schema: Schema, value: str, path: str, errors: Errors) -> None:
    if "enum" in schema and value not in schema["enum"]:
        errors.fail(f"{path}: {show(value)} is not one of {', '.join(schema['enum'])}")
        return
    if "pattern" in schema and not re.search(schema["pattern"], value):
        what = schema.get("x-what")
        errors.fail(f"{path}: {show(value)} is not {what}" if what
                      else f"{path}: {show(value)} does not match {schema['pattern']}")
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.fail(f"{path}: must not be shorter than {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.fail(f"{path}: must not be longer than {schema['maxLength']} characters")


def _bounds(n: int, schema: Schema, lo: str, hi: str, path: str, errors: Errors, noun: str,
            plural: str | None = None) -> None:
    plural = plural or noun + "s"
    if lo in schema and n < schema[lo]:
        errors.fail(f"{path}: needs at least {schema[lo]} {noun if schema[lo] == 1 else plural}")
    if hi in schema and n > schema[hi]:
        errors.fail(f"{path}: has {n} {plural}, at most {schema[hi]} allowed")
