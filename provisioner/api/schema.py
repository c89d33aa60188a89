"""Builders for OpenAPI v3 schemas that carry their CEL rules with a Python twin.

A schema here is a plain dict in CRD form, except that `x-kubernetes-validations` holds
`Rule` objects (CEL for the API server, a Python predicate for `provisioner.api.walk`) and
`x-what` names the expected shape for error messages. `crd_schema` strips both into what the
API server accepts; `json_schema` gives the plain JSON Schema used by the agreement tests.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Callable

from provisioner.api import patterns as P
from provisioner.api.labels import cel_rules, restricted_reason

Schema = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    cel: str
    message: str
    # True/None: valid. False: invalid with `message`. str: invalid with that more precise text.
    # dict: for a map, {offending key: reason}.
    check: Callable[[Any], bool | str | dict[str, str] | None]


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), rules: tuple[Rule, ...] = (),
        **extra: Any) -> Schema:
    s: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        s["required"] = list(required)
    if rules:
        s["x-kubernetes-validations"] = list(rules)
    return s


def arr(items: Schema, rules: tuple[Rule, ...] = (), **extra: Any) -> Schema:
    s: Schema = {"type": "array", "items": items, **extra}
    if rules:
        s["x-kubernetes-validations"] = list(rules)
    return s


def string(pattern: str | None = None, what: str | None = None, **extra: Any) -> Schema:
    s: Schema = {"type": "string", **extra}
    if pattern:
        s["pattern"] = pattern
    if what:
        s["x-what"] = what
    return s


def integer(**extra: Any) -> Schema:
    return {"type": "integer", **extra}


def boolean(**extra: Any) -> Schema:
    return {"type": "boolean", **extra}


def string_map(values: Schema | None = None, rules: tuple[Rule, ...] = (), **extra: Any) -> Schema:
    s: Schema = {"type": "object", "additionalProperties": values or {"type": "string"}, **extra}
    if rules:
        s["x-kubernetes-validations"] = list(rules)
    return s


def int_or_string(pattern: str, what: str, **extra: Any) -> Schema:
    # The API server accepts only this exact anyOf next to x-kubernetes-int-or-string; the pattern
    # sits beside it and, as JSON Schema says, applies to strings only.
    return {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True,
            "pattern": pattern, "minimum": 0, "x-what": what, **extra}


def enum(*values: str, **extra: Any) -> Schema:
    return {"type": "string", "enum": list(values), **extra}


def label_key_rules(var_is_map: bool) -> tuple[Rule, ...]:
    """Restricted-label rules for a map of labels (keys) or for a single key string."""
    out = []
    for expr, message, ok in cel_rules("k" if var_is_map else "self"):
        if var_is_map:
            out.append(Rule(f"self.all(k, {expr})", message, _map_keys_check(ok, message)))
        else:
            out.append(Rule(expr, message, lambda v, ok=ok: ok(v) or restricted_reason(v)))
    return tuple(out)


def _map_keys_check(ok: Callable[[str], bool], message: str) -> Callable[[Any], bool | dict[str, str]]:
    def check(value: dict[str, Any]) -> bool | dict[str, str]:
        return {k: message for k in value if not ok(k)} or True
    return check


def label_map(**extra: Any) -> Schema:
    """Labels: keys and values checked like Kubernetes label keys and values."""
    key_rule = Rule(f"self.all(k, k.size() <= {P.LABEL_KEY_MAX} && k.matches(r'{P.LABEL_KEY}'))",
                    "label keys must be qualified names (optional DNS prefix, '/', name of at most 63 characters)",
                    _map_keys_check(lambda k: len(k) <= P.LABEL_KEY_MAX and _matches(P.LABEL_KEY, k),
                                    "is not a valid label key"))
    return string_map(string(P.LABEL_VALUE, "a label value (at most 63 alphanumerics, '-', '_' or '.')",
                             maxLength=63), rules=(key_rule,), maxProperties=100, **extra)


def _matches(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


def _strip(node: Any, keep_rules: bool) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "x-what":
                continue
            if k == "x-kubernetes-validations":
                if keep_rules:
                    out[k] = [{"rule": r.cel, "message": r.message} for r in v]
                continue
            out[k] = _strip(v, keep_rules)
        return out
    if isinstance(node, list):
        return [_strip(v, keep_rules) for v in node]
    return copy.deepcopy(node)


def crd_schema(schema: Schema) -> Schema:
    """The schema as the CRD carries it: CEL rules as {rule, message}, private keys dropped."""
    return _strip(schema, keep_rules=True)


def json_schema(schema: Schema) -> Schema:
    """Plain JSON Schema (draft 2020-12) of the structural part, rejecting unknown fields as
    `kubectl apply` does with strict field validation. CEL rules are not represented."""
    def conv(node: Any) -> Any:
        if isinstance(node, list):
            return [conv(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: conv(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
        if node.get("x-kubernetes-list-type") == "set":
            out["uniqueItems"] = True
        if "properties" in node and "additionalProperties" not in node \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    return conv(_strip(schema, keep_rules=False))
