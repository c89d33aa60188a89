"""The committed CRDs are what the schemas generate, and they agree with the Python validator.

The plain OpenAPI part is checked with `jsonschema` on the corpus: it must reject exactly
the cases marked "schema", at the same field path. Cases marked "cel" must pass it and be
caught by an x-kubernetes-validations rule at that path (test_apiserver.py runs the real
rules on a real API server when one is available).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.api import crd, load_documents, to_manifest

from .corpus import INVALID, VALID, Case

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[3]


def _committed(kind: str) -> dict[str, Any]:
    name = {"NodePool": "nodepools", "NodeClass": "nodeclasses"}[kind]
    return yaml.safe_load((crd.CRD_DIR / f"{name}.provisioner.sh.yaml").read_text())


def _openapi(kind: str) -> dict[str, Any]:
    return _committed(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _strict(node: Any) -> Any:
    """JSON Schema of a CRD schema: x- keys dropped (list-type set -> uniqueItems), unknown fields
    rejected (strict field validation)."""
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if "properties" in node and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


VALIDATORS = {kind: jsonschema.Draft7Validator(_strict(_openapi(kind))) for kind in ("NodePool", "NodeClass")}


def _jsonschema_errors(doc: dict[str, Any]) -> list[str]:
    out = []
    for err in VALIDATORS[doc["kind"]].iter_errors(doc):
        path = ""
        for step in err.absolute_path:
            path += f"[{step}]" if isinstance(step, int) else f".{step}"
        if err.validator == "required":
            path += "." + re.search(r"'([^']+)' is a required", err.message).group(1)
        elif err.validator == "additionalProperties" and err.validator_value is False:
            path += "." + re.search(r"'([^']+)' was unexpected", err.message).group(1)
        out.append(path.lstrip("."))
    return out


def test_committed_crds_are_generated() -> None:
    for path, text in crd.files().items():
        assert path.read_text() == text, f"{path.name} is stale: run `python -m provisioner.api.crd`"


@pytest.mark.parametrize("kind", ["NodePool", "NodeClass"])
def test_crd_shape(kind: str) -> None:
    doc = _committed(kind)
    version = doc["spec"]["versions"][0]
    assert doc["spec"]["group"] == "provisioner.sh" and version["name"] == "v1"
    assert version["subresources"] == {"status": {}}
    assert any(c["name"] == "Ready" for c in version["additionalPrinterColumns"])
    text = yaml.safe_dump(doc)
    assert "x-what" not in text

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node or "additionalProperties" in node:
                assert node.get("type") == "object"
            for rule in node.get("x-kubernetes-validations", ()):
                assert set(rule) == {"rule", "message"}
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)
    visit(version["schema"]["openAPIV3Schema"])


def _field_path(python_error: str) -> str:
    path = python_error.split(": ", 1)[0]
    return re.sub(r'\["[^"]*"\]', lambda m: "." + m.group(0)[2:-2], path)


def _rules_at(kind: str, path: str) -> list[str]:
    """Messages of the CEL rules on the schema node at `path` or, for a map entry, on the map."""
    node = _openapi(kind)
    if path.startswith("metadata."):
        return [r["message"] for r in node.get("x-kubernetes-validations", ())]
    parents = [node]
    for name, index, key in re.findall(r'([A-Za-z0-9_]+)|\[(\d+)\]|\["([^"]*)"\]', path):
        if index:
            node = node["items"]
        elif key:
            node = node["additionalProperties"]
        else:
            node = node["properties"][name]
        parents.append(node)
    for candidate in reversed(parents[-2:]):
        if candidate.get("x-kubernetes-validations"):
            return [r["message"] for r in candidate["x-kubernetes-validations"]]
    return []


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_crd_and_validator_agree_on_invalid(case: Case) -> None:
    found = _jsonschema_errors(case.doc)
    if case.by == "schema":
        path = _field_path(case.error)
        if "duplicate value" in case.error:  # uniqueItems reports the list, not the repeated item
            path = re.sub(r"\[\d+\]$", "", path)
        assert found == [path]
    else:
        assert found == []
        assert _rules_at(case.doc["kind"], case.error.split(": ", 1)[0]), "no CEL rule where the validator complains"


@pytest.mark.parametrize("doc", [d for _, d in VALID], ids=[i for i, _ in VALID])
def test_crd_accepts_valid_documents_and_their_round_trip(doc: dict) -> None:
    assert _jsonschema_errors(doc) == []
    pools, classes = load_documents([doc])
    for obj in pools + classes:
        assert _jsonschema_errors(to_manifest(obj)) == []


def test_crd_accepts_samples() -> None:
    for path in sorted((ROOT / "stacks" / "samples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert _jsonschema_errors(doc) == [], path.name
