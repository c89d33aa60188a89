"""Launch-template user data: an AL2023-style MIME multi-part holding a `node.eks.aws/v1alpha1` NodeConfig.

The NodePool's labels and taints travel as kubelet flags in `spec.kubelet.flags`
(`--node-labels=k=v,...`, `--register-with-taints=k=v:Effect,...`); see docs/conventions.md.
`render` is used by the fleet program, `parse` by the local cloud's node registration.
Rendering is deterministic (sorted labels, fixed boundary) so that an unchanged NodePool gives
byte-identical user data and no Pulumi diff.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
from typing import Any, Iterable, Mapping

import yaml

from provisioner.fleet.desired import Taint

NODECONFIG_API_VERSION = "node.eks.aws/v1alpha1"
NODECONFIG_CONTENT_TYPE = "application/node.eks.aws"
BOUNDARY = "//provisioner//"
LABELS_FLAG = "--node-labels="
TAINTS_FLAG = "--register-with-taints="
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class UserDataError(ValueError):
    pass




def _taint_flag(t: Any) -> str:
    key, value, effect = t.key, getattr(t, "value", "") or "", t.effect
    if effect not in EFFECTS:
        raise UserDataError(f"taint {key}: effect {effect!r} is not one of {EFFECTS}")
    return f"{key}={value}:{effect}" if value else f"{key}:{effect}"


def _deep_merge(base: dict, extra: Mapping[str, Any]) -> dict:
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = v
    return base


def node_config(labels: Mapping[str, str], taints: Iterable[Any], extra: Mapping[str, Any] | None = None) -> dict:
    flags: list[str] = []
    if labels:
        flags.append(LABELS_FLAG + ",".join(f"{k}={labels[k]}" for k in sorted(labels)))
    taint_flags = [_taint_flag(t) for t in taints]
    if taint_flags:
        flags.append(TAINTS_FLAG + ",".join(taint_flags))
    spec: dict[str, Any] = {"kubelet": {"flags": flags}} if flags else {"kubelet": {}}
    _deep_merge(spec, dict(extra or {}))
    if flags and spec["kubelet"].get("flags") is not flags:  # extra brought its own flags: keep ours too
        spec["kubelet"]["flags"] = flags + [f for f in spec["kubelet"]["flags"] if f not in flags]
    return {"apiVersion": NODECONFIG_API_VERSION, "kind": "NodeConfig", "spec": spec}


def render(labels: Mapping[str, str], taints: Iterable[Any] = (), extra: Mapping[str, Any] | None = None) -> str:
    """User data text (not base64) for a launch template.

    `taints` are objects with key/value/effect attributes; `extra` is merged into the NodeConfig
    `spec` (e.g. `{"cluster": {...}, "kubelet": {"config": {"maxPods": 110}}}`).
    """
    doc = yaml.safe_dump(node_config(labels, taints, extra), sort_keys=True, default_flow_style=False)
    return (
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"\n'
        "\n"
        f"--{BOUNDARY}\n"
        f"Content-Type: {NODECONFIG_CONTENT_TYPE}\n"
        "\n"
        "---\n"
        f"{doc}"
        f"\n--{BOUNDARY}--\n"
    )


def _maybe_base64(text: str) -> str:
    stripped = text.strip()
    if not stripped or stripped.startswith(("MIME-Version", "Content-Type", "---", "apiVersion", "#")):
        return text
    try:
        return base64.b64decode(stripped, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return text


def node_configs(text: str) -> list[dict]:
    """Every NodeConfig document in the user data (MIME multi-part, plain YAML or base64 of either)."""
    text = _maybe_base64(text)
    bodies: list[str] = []
    if text.lstrip().startswith(("MIME-Version", "Content-Type")):
        msg = email.message_from_string(text, policy=email.policy.compat32)
        parts = msg.walk() if msg.is_multipart() else [msg]
        for part in parts:
            if part.is_multipart():
                continue
            if part.get_content_type() in (NODECONFIG_CONTENT_TYPE, "application/yaml", "text/yaml"):
                payload = part.get_payload(decode=True)
                bodies.append(payload.decode() if isinstance(payload, bytes) else str(part.get_payload()))
    else:
        bodies.append(text)
    out = []
    for body in bodies:
        try:
            docs = list(yaml.safe_load_all(body))
        except yaml.YAMLError as err:
            raise UserDataError(f"NodeConfig is not valid YAML: {err}") from err
        out += [d for d in docs if isinstance(d, dict) and d.get("kind") == "NodeConfig"]
    return out


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_taint(item: str) -> Taint:
    head, sep, effect = item.rpartition(":")
    if not sep or effect not in EFFECTS:
        raise UserDataError(f"taint {item!r}: expected key[=value]:Effect")
    key, _, value = head.partition("=")
    return Taint(key=key, value=value, effect=effect)


def parse(text: str) -> tuple[dict[str, str], list[Taint]]:
    """Node labels and taints carried by the kubelet flags of the user data's NodeConfig(s)."""
    labels: dict[str, str] = {}
    taints: list[Taint] = []
    for config in node_configs(text):
        flags = ((config.get("spec") or {}).get("kubelet") or {}).get("flags") or []
        for flag in flags:
            flag = str(flag)
            if flag.startswith(LABELS_FLAG):
                for item in _split_list(flag[len(LABELS_FLAG):]):
                    key, sep, value = item.partition("=")
                    if not sep:
                        raise UserDataError(f"node label {item!r}: expected key=value")
                    labels[key] = value
            elif flag.startswith(TAINTS_FLAG):
                taints += [parse_taint(item) for item in _split_list(flag[len(TAINTS_FLAG):])]
    return labels, taints


def kubelet_config(text: str) -> dict[str, Any]:
    """The merged `spec.kubelet.config` (KubeletConfiguration fields such as maxPods)."""
    merged: dict[str, Any] = {}
    for config in node_configs(text):
        _deep_merge(merged, ((config.get("spec") or {}).get("kubelet") or {}).get("config") or {})
    return merged
