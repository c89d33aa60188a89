"""Every malformed field gives one precise error; valid documents load."""

from __future__ import annotations

import pytest

from provisioner.api import ValidationError, load_documents
from .corpus import INVALID, VALID, Case, nodeclass, nodepool


def _errors(doc: dict) -> tuple[str, ...]:
    with pytest.raises(ValidationError) as info:
        load_documents([doc])
    return info.value.errors


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_invalid_field_gives_precise_error(case: Case) -> None:
    name = case.doc["metadata"]["name"]
    assert _errors(case.doc) == (f'{case.doc["kind"]} "{name}": {case.error}',)


@pytest.mark.parametrize("doc", [d for _, d in VALID], ids=[i for i, _ in VALID])
def test_valid_documents_load(doc: dict) -> None:
    pools, classes = load_documents([doc])
    assert len(pools) + len(classes) == 1


def test_every_error_is_collected_across_documents() -> None:
    bad_pool = nodepool(weight=0, limits={"cpu": "lots"})
    bad_pool["spec"]["template"]["spec"]["requirements"][0]["operator"] = "Within"
    bad_class = nodeclass(amiFamily="Ubuntu", subnetSelectorTerms=[{"id": "sub-1"}])
    errors = _errors_of([bad_pool, bad_class])
    assert errors == (
        'NodePool "default": spec.template.spec.requirements[0].operator: "Within" is not one of '
        "In, NotIn, Exists, DoesNotExist, Gt, Lt",
        'NodePool "default": spec.weight: 0 is less than the minimum 1',
        'NodePool "default": spec.limits["cpu"]: "lots" is not a quantity such as 100, 500m, 64Gi',
        'NodeClass "default": spec.subnetSelectorTerms[0].id: "sub-1" is not a subnet id such as '
        "subnet-0123456789abcdef0",
        'NodeClass "default": spec.amiFamily: "Ubuntu" is not one of AL2023, AL2, Bottlerocket, Windows2019, '
        "Windows2022, Custom",
    )


def _errors_of(docs: list[dict]) -> tuple[str, ...]:
    with pytest.raises(ValidationError) as info:
        load_documents(docs)
    return info.value.errors


def test_message_is_all_errors_one_per_line() -> None:
    err = ValidationError(["a: x", "b: y"])
    assert isinstance(err, ValueError) and str(err) == "a: x\nb: y"


def test_missing_name_and_spec() -> None:
    assert _errors({"apiVersion": "provisioner.sh/v1", "kind": "NodePool", "metadata": {}}) == (
        'NodePool "?": metadata.name: required', 'NodePool "?": spec: required')


def test_duplicate_names_are_rejected() -> None:
    assert _errors_of([nodepool(), nodepool()]) == ('NodePool "default": defined more than once',)


def test_unsupported_version_of_our_group_is_rejected() -> None:
    doc = dict(nodepool(), apiVersion="karpenter.sh/v1beta1")
    assert _errors(doc)[0].startswith("document 0: karpenter.sh/v1beta1 NodePool is not supported")


def test_other_kinds_are_skipped() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    assert load_documents([cm, nodepool()])[0][0].name == "default"


def test_non_mapping_document() -> None:
    assert _errors_of(["just a string"]) == ("document 0: not a mapping",)


def test_rules_do_not_run_on_malformed_fields() -> None:
    # values is not a list: one type error, no cascade from the operator rules.
    doc = nodepool()
    doc["spec"]["template"]["spec"]["requirements"][0]["values"] = "amd64"
    assert _errors(doc) == ('NodePool "default": spec.template.spec.requirements[0].values: '
                            'must be a list, not string "amd64"',)
