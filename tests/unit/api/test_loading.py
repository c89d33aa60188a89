"""Loading YAML, defaults, Karpenter conversion and round trips."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.api import (Budget, Disruption, MetadataOptions, NodeClass, NodePool, Requirement, Taint,
                             ValidationError, load_documents, load_yaml, to_manifest)
from provisioner.api.patterns import format_duration, parse_duration

from .corpus import VALID, nodeclass

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "stacks" / "samples"
FIXTURES = ROOT / "tests" / "fixtures" / "api"


def _by_name(objs: list) -> dict:
    return {o.name: o for o in objs}


def test_samples_load() -> None:
    pools, classes = [], []
    for path in sorted(SAMPLES.glob("*.yaml")):
        p, c = load_yaml(path)
        pools += p
        classes += c
    assert sorted(p.name for p in pools) == ["arm64", "default", "gpu", "spot"]
    assert [c.name for c in classes] == ["default"]
    gpu = _by_name(pools)["gpu"]
    assert gpu.taints == (Taint("nvidia.com/gpu", "true", "NoSchedule"),)
    assert gpu.limits == {"nvidia.com/gpu": "16"}
    assert Requirement("kubernetes.io/arch", "In", ("arm64",)) in _by_name(pools)["arm64"].requirements


def test_load_yaml_accepts_text_str_path_and_path() -> None:
    path = SAMPLES / "default.yaml"
    assert load_yaml(path) == load_yaml(str(path)) == load_yaml(path.read_text())


def test_load_yaml_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        load_yaml("stacks/samples/does-not-exist.yaml")


def test_load_yaml_reports_bad_yaml() -> None:
    with pytest.raises(ValidationError, match="^YAML: "):
        load_yaml("a: [\n")


def test_defaults() -> None:
    pools, classes = load_documents([
        {"apiVersion": "provisioner.sh/v1", "kind": "NodePool", "metadata": {"name": "p"},
         "spec": {"template": {"spec": {"requirements": [],
                                        "nodeClassRef": {"group": "provisioner.sh", "kind": "NodeClass",
                                                         "name": "c"}}}}},
        {"apiVersion": "provisioner.sh/v1", "kind": "NodeClass", "metadata": {"name": "c"},
         "spec": {"amiSelectorTerms": [{"alias": "bottlerocket@latest"}], "role": "r",
                  "subnetSelectorTerms": [{"id": "subnet-1"}], "securityGroupSelectorTerms": [{"id": "sg-1"}]}},
    ])
    assert pools == [NodePool(name="p", node_class_ref="c")]
    pool = pools[0]
    assert pool.weight == 0 and pool.expire_after == timedelta(hours=720)
    assert pool.termination_grace_period is None
    assert pool.disruption == Disruption("WhenEmptyOrUnderutilized", timedelta(minutes=5), (Budget("10%"),))
    nc = classes[0]
    assert nc.ami_family == "Bottlerocket"  # implied by the alias
    assert nc.metadata_options == MetadataOptions("enabled", "disabled", 1, "required")
    assert (nc.associate_public_ip_address, nc.detailed_monitoring, nc.kubelet, nc.block_device_mappings) == \
        (False, False, None, ())


def test_dataclasses_are_frozen() -> None:
    pool = NodePool(name="p", node_class_ref="c")
    with pytest.raises(dataclasses.FrozenInstanceError):
        pool.weight = 5  # type: ignore[misc]


def test_karpenter_conversion() -> None:
    pools, classes = load_yaml(FIXTURES / "karpenter-default.yaml")
    pool, nc = pools[0], classes[0]
    assert pool.node_class_ref == "default"
    assert pool.labels == {"team": "web"} and pool.annotations == {"example.com/owner": "web-team"}
    assert pool.limits == {"cpu": "1000", "memory": "1000Gi"}
    assert Requirement("karpenter.k8s.aws/instance-category", "In", ("c", "m", "r"), 2) in pool.requirements
    # Karpenter's default consolidateAfter (0s) is kept for Karpenter manifests.
    assert pool.disruption.consolidate_after == timedelta(0)
    assert pool.disruption.budgets[1] == Budget("0", "@daily", timedelta(minutes=10), ("Drifted", "Underutilized"))
    assert nc.ami_family == "AL2023" and nc.role == "KarpenterNodeRole-demo"
    assert nc.metadata_options.http_put_response_hop_limit == 2
    assert nc.kubelet is not None and nc.kubelet.max_pods == 110 and nc.kubelet.cluster_dns == ("10.0.1.100",)
    assert nc.kubelet.eviction_soft_grace_period == {"memory.available": timedelta(minutes=1)}
    assert nc.block_device_mappings[0].ebs.iops == 10000 and nc.detailed_monitoring
    assert not nc.associate_public_ip_address


def test_karpenter_list_with_status_and_server_fields() -> None:
    pools, classes = load_yaml(FIXTURES / "karpenter-list.yaml")
    gpu = pools[0]
    assert gpu.weight == 10 and gpu.expire_after is None
    assert gpu.termination_grace_period == timedelta(hours=48)
    assert gpu.startup_taints == (Taint("example.com/agent-not-ready", "true", "NoExecute"),)
    assert gpu.disruption.consolidation_policy == "WhenEmpty"
    assert gpu.disruption.consolidate_after == timedelta(minutes=30)
    assert classes[0].instance_profile == "KarpenterNodeInstanceProfile-demo" and classes[0].role is None


def test_karpenter_unsupported_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        load_yaml(FIXTURES / "karpenter-unsupported.yaml")
    assert info.value.errors == (
        'EC2NodeClass "odd": spec.instanceStorePolicy: not supported by provisioner',
        'EC2NodeClass "odd": spec.context: not supported by provisioner',
        'EC2NodeClass "odd": spec.amiSelectorTerms[0].ssmParameter: not supported by provisioner',
        'EC2NodeClass "odd": spec.amiSelectorTerms[0]: expected at least one of alias, id, name, tags',
    )


def test_karpenter_node_class_ref_to_other_kind() -> None:
    pools, _ = load_yaml(FIXTURES / "karpenter-default.yaml")
    doc = to_manifest(pools[0])
    doc["apiVersion"] = "karpenter.sh/v1"
    doc["spec"]["template"]["spec"]["nodeClassRef"] = {"group": "example.com", "kind": "Other", "name": "x"}
    with pytest.raises(ValidationError) as info:
        load_documents([doc])
    assert info.value.errors == (
        'NodePool "default": spec.template.spec.nodeClassRef: example.com/Other is not supported; '
        "only karpenter.k8s.aws/EC2NodeClass converts",
        'NodePool "default": spec.template.spec.nodeClassRef: required',
    )


@pytest.mark.parametrize("fixture", ["karpenter-default.yaml", "karpenter-list.yaml"])
def test_karpenter_round_trip(fixture: str) -> None:
    pools, classes = load_yaml(FIXTURES / fixture)
    manifests = [to_manifest(o) for o in pools + classes]
    assert {m["apiVersion"] for m in manifests} == {"provisioner.sh/v1"}
    for m in manifests:
        if m["kind"] == "NodePool":
            assert m["spec"]["template"]["spec"]["nodeClassRef"]["kind"] == "NodeClass"
            assert m["spec"]["disruption"]["consolidateAfter"] in ("0s", "30m")  # Karpenter semantics kept
    assert load_documents(manifests) == (pools, classes)


@pytest.mark.parametrize("doc", [d for _, d in VALID], ids=[i for i, _ in VALID])
def test_round_trip(doc: dict) -> None:
    pools, classes = load_documents([doc])
    again = load_documents([to_manifest(o) for o in pools + classes])
    assert again == (pools, classes)
    # and the manifest is a fixed point
    assert [to_manifest(o) for o in again[0] + again[1]] == [to_manifest(o) for o in pools + classes]


def test_to_manifest_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        to_manifest("nope")  # type: ignore[arg-type]


def test_node_class_equality_and_hash() -> None:
    a = load_documents([nodeclass()])[1][0]
    b = load_documents([nodeclass()])[1][0]
    assert a == b and hash(a) == hash(b) and isinstance(a, NodeClass)


@given(st.integers(min_value=0, max_value=10 ** 7))
def test_duration_round_trip(seconds: int) -> None:
    d = timedelta(seconds=seconds)
    assert parse_duration(format_duration(d)) == d


def test_never_duration() -> None:
    assert parse_duration("Never") is None and format_duration(None) == "Never"
    assert parse_duration("1h30m15s") == timedelta(hours=1, minutes=30, seconds=15)
