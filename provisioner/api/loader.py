"""Load NodePool and NodeClass documents (ours or Karpenter's) into validated dataclasses."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from provisioner.api import karpenter, nodeclass, nodepool
from provisioner.api import patterns as P
from provisioner.api.errors import ValidationError
from provisioner.api.types import API_VERSION, NODECLASS_KIND, NODEPOOL_KIND, NodeClass, NodePool
from provisioner.api.walk import show, walk

_OUR_GROUPS = ("provisioner.sh", "karpenter.sh", "karpenter.k8s.aws")
_SPEC_SCHEMAS = {NODEPOOL_KIND: nodepool.spec_schema(), NODECLASS_KIND: nodeclass.spec_schema()}


def _flatten(docs: Iterable[Any]) -> Iterable[Any]:
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            yield from _flatten(doc["items"])
        elif doc is not None:
            yield doc


def _check_name(doc: dict[str, Any], errors: list[str]) -> str:
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if name is None:
        errors.append("metadata.name: required")
        return "?"
    if not isinstance(name, str) or not re.search(P.DNS_LABEL, name):
        errors.append(f"metadata.name: {show(name)} is not a DNS label (at most 63 lower-case alphanumerics or '-')")
        return str(name)
    return name


def _load_one(doc: dict[str, Any], kind: str, shown_kind: str, problems: list[str]) -> NodePool | NodeClass | None:
    errors: list[str] = []
    name = _check_name(doc, errors)
    if shown_kind == "NodePool" and doc["apiVersion"] != API_VERSION:
        doc = karpenter.convert_nodepool(doc, errors)
    elif shown_kind == "EC2NodeClass":
        doc = karpenter.convert_nodeclass(doc, errors)
    for field in doc:
        if field not in ("apiVersion", "kind", "metadata", "spec", "status"):
            errors.append(f"{field}: unknown field")
    if "spec" not in doc:
        errors.append("spec: required")
    else:
        spec = walk(_SPEC_SCHEMAS[kind], doc["spec"], "spec", errors)
    if errors:
        problems.extend(f'{shown_kind} "{name}": {e}' for e in errors)
        return None
    if kind == NODEPOOL_KIND:
        return nodepool.from_spec(name, spec)
    return nodeclass.from_spec(name, spec)


def load_documents(docs: list[dict[str, Any]]) -> tuple[list[NodePool], list[NodeClass]]:
    """Validate, default and convert every NodePool/NodeClass in `docs` (other kinds are skipped).

    Raises ValidationError listing every problem in every document."""
    pools: list[NodePool] = []
    classes: list[NodeClass] = []
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for index, doc in enumerate(_flatten(docs)):
        if not isinstance(doc, dict):
            problems.append(f"document {index}: not a mapping")
            continue
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        key = (api_version, kind)
        if key in ((API_VERSION, NODEPOOL_KIND), karpenter.KARPENTER_NODEPOOL):
            ours = NODEPOOL_KIND
        elif key in ((API_VERSION, NODECLASS_KIND), karpenter.KARPENTER_NODECLASS):
            ours = NODECLASS_KIND
        else:
            if isinstance(api_version, str) and api_version.split("/")[0] in _OUR_GROUPS:
                problems.append(f"document {index}: {api_version} {kind} is not supported "
                                f"(use {API_VERSION} NodePool/NodeClass, karpenter.sh/v1 NodePool "
                                "or karpenter.k8s.aws/v1 EC2NodeClass)")
            continue
        obj = _load_one(doc, ours, kind, problems)
        if obj is None:
            continue
        if (ours, obj.name) in seen:
            problems.append(f'{ours} "{obj.name}": defined more than once')
            continue
        seen.add((ours, obj.name))
        (pools if ours == NODEPOOL_KIND else classes).append(obj)  # type: ignore[arg-type]
    if problems:
        raise ValidationError(problems)
    return pools, classes


def load_yaml(text_or_path: str | os.PathLike[str]) -> tuple[list[NodePool], list[NodeClass]]:
    """load_documents over a YAML file or text (multi-document, `kind: List` allowed)."""
    looks_like_path = isinstance(text_or_path, str) and "\n" not in text_or_path and (
        text_or_path.endswith((".yaml", ".yml", ".json")) or Path(text_or_path).is_file())
    if isinstance(text_or_path, os.PathLike) or looks_like_path:
        text = Path(text_or_path).read_text()  # a missing file raises FileNotFoundError
    else:
        text = text_or_path
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ValidationError(f"YAML: {exc}") from exc
    return load_documents(docs)


def to_manifest(obj: NodePool | NodeClass) -> dict[str, Any]:
    """The provisioner.sh/v1 manifest of `obj`; load_documents([to_manifest(x)]) gives back x."""
    if isinstance(obj, NodePool):
        return nodepool.to_manifest(obj)
    if isinstance(obj, NodeClass):
        return nodeclass.to_manifest(obj)
    raise TypeError(f"not a NodePool or NodeClass: {type(obj).__name__}")
