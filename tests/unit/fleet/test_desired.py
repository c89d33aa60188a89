import json

import pytest

from provisioner.fleet.desired import loads
from provisioner.fleet.validation import DesiredNodeSetError, parse

from .samples import valid_doc


def test_valid_document_round_trips_through_yaml_and_json():
    desired = parse(valid_doc())
    assert loads(desired.to_yaml()) == desired
    assert parse(json.loads(desired.to_json())) == desired
    assert desired.node("web-1").taints[0].effect == "NoSchedule"
    assert desired.node_classes["default"].metadata_options.http_tokens == "required"  # secure default
    assert desired.node_classes["default"].block_devices[0].encrypted is True


def mutate(path: str, value):
    doc = valid_doc()
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is KeyError:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return doc


CASES = [
    ("apiVersion", "v1", "apiVersion: must be 'provisioner.sh/v1alpha1'"),
    ("kind", "NodeSet", "kind: must be 'DesiredNodeSet'"),
    ("cluster", "Demo_Cluster", "cluster: 'Demo_Cluster' is not a valid cluster name"),
    ("region", "moon-1", "region: 'moon-1' is not a valid AWS region"),
    ("nodes.0.capacityType", "spotty", "nodes[0].capacityType: 'spotty' is not one of spot, on-demand"),
    ("nodes.0.capacityType", KeyError, "nodes[0].capacityType: is required"),
    ("nodes.0.instanceTypes", [], "nodes[0].instanceTypes: needs at least one candidate"),
    ("nodes.0.instanceTypes", ["m6i.large", "m6i.large"], "nodes[0].instanceTypes[1]: duplicate 'm6i.large'"),
    ("nodes.0.instanceTypes", ["M6I LARGE"], "nodes[0].instanceTypes[0]: 'M6I LARGE' is not a valid instance type"),
    ("nodes.0.instanceTypes", "m6i.large", "nodes[0].instanceTypes: must be a list, got str"),
    ("nodes.0.zones", ["us-east-1z"], "nodes[0].zones[0]: zone 'us-east-1z' has no subnet"),
    ("nodes.0.zones", [], "nodes[0].zones: needs at least one zone"),
    ("nodes.0.nodeClass", "gpu", "nodes[0].nodeClass: 'gpu' is not defined in nodeClasses"),
    ("nodes.0.architecture", "riscv", "nodes[0].architecture: 'riscv' is not one of amd64, arm64"),
    ("nodes.0.taints", [{"key": "a", "effect": "Sometimes"}], "nodes[0].taints[0].effect: 'Sometimes' is not one of"),
    ("nodes.0.labels", {"bad key!": "x"}, "nodes[0].labels['bad key!']: is not a valid label key"),
    ("nodes.0.labels", {"ok": "bad value!"}, "nodes[0].labels['ok']: value 'bad value!' is not a valid label value"),
    ("nodes.0.state", "gone", "nodes[0].state: 'gone' is not one of active, draining"),
    ("nodes.0.extra", 1, "nodes[0].extra: unknown field"),
    ("nodes.1.name", "web-1", "nodes[1].name: duplicate node name 'web-1' (also nodes[0])"),
    ("nodeClasses.default.amis", {"amd64": "img-1"}, "nodeClasses.default.amis.amd64: 'img-1' is not a valid AMI id"),
    ("nodeClasses.default.subnets", {"us-east-1a": "sub-1"}, "nodeClasses.default.subnets.us-east-1a: 'sub-1'"),
    ("nodeClasses.default.securityGroupIds", ["default"], "nodeClasses.default.securityGroupIds[0]: 'default'"),
    ("nodeClasses.default.metadataOptions", {"httpTokens": "maybe"},
     "nodeClasses.default.metadataOptions.httpTokens: 'maybe' is not one of required, optional"),
    ("nodeClasses.default.metadataOptions", {"httpPutResponseHopLimit": 99},
     "nodeClasses.default.metadataOptions.httpPutResponseHopLimit: 99 is outside 1..64"),
    ("nodeClasses.default.blockDevices", [{"volumeSizeGiB": 0}], "blockDevices[0].volumeSizeGiB: 0 is outside"),
    ("nodeClasses.default.blockDevices", [{"volumeType": "floppy"}], "blockDevices[0].volumeType: 'floppy'"),
    ("nodeClasses.default.blockDevices", [{"encrypted": "yes"}], "blockDevices[0].encrypted: must be a bool"),
    ("nodeClasses.default.associatePublicIpAddress", "no", "associatePublicIpAddress: must be a bool"),
    ("nodeClasses.default.tags", {"team": 5}, "nodeClasses.default.tags.team: tag values must be strings"),
    ("nodes.0.settings", "default@1a2b3c4d", "nodes[0].settings: 'default@1a2b3c4d' is not defined in nodeClasses"),
    ("nodes.0.settings", "gpu@1a2b3c4d", "nodes[0].settings: 'gpu@1a2b3c4d' is not a version of NodeClass 'default'"),
    ("nodes.0.settings", 7, "nodes[0].settings: must be a str"),
]


@pytest.mark.parametrize("path,value,expected", CASES, ids=[c[0] + "=" + repr(c[1])[:20] for c in CASES])
def test_every_malformed_field_gets_a_precise_error(path, value, expected):
    with pytest.raises(DesiredNodeSetError) as err:
        parse(mutate(path, value))
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_all_problems_are_reported_at_once():
    doc = mutate("nodes.0.capacityType", "spotty")
    doc["nodes"][1]["zones"] = []
    with pytest.raises(DesiredNodeSetError) as err:
        parse(doc)
    assert len(err.value.problems) == 2


def test_non_mapping_document_is_rejected():
    with pytest.raises(DesiredNodeSetError, match="must be a mapping"):
        parse(["nodes"])


def versioned_doc() -> dict:
    """web-1 pinned to the settings it was launched with, arm-1 on a newer version of the NodeClass."""
    doc = valid_doc()
    newer = {**doc["nodeClasses"]["default"], "amis": {"amd64": "ami-0aaaaaaaaaaaaaaaa", "arm64": "ami-0bbbbbbbbbbbbbbbb"}}
    doc["nodeClasses"]["default@1a2b3c4d"] = newer
    doc["nodes"][1]["settings"] = "default@1a2b3c4d"
    return doc


def test_node_settings_name_their_node_class_version_and_round_trip():
    desired = parse(versioned_doc())
    web, arm = desired.node("web-1"), desired.node("arm-1")
    assert (web.settings, web.settings_key) == ("", "default")
    assert (arm.settings, arm.settings_key, arm.node_class) == ("default@1a2b3c4d", "default@1a2b3c4d", "default")
    assert desired.settings_of(arm).amis["arm64"] == "ami-0bbbbbbbbbbbbbbbb"
    assert desired.settings_of(web).amis["arm64"] == "ami-0fedcba9876543210"
    nodes = desired.to_dict()["nodes"]
    assert "settings" not in nodes[0] and nodes[1]["settings"] == "default@1a2b3c4d"
    assert loads(desired.to_yaml()) == desired
    assert parse(json.loads(desired.to_json())) == desired


def test_documents_without_node_settings_still_load_and_are_written_unchanged():
    doc = valid_doc()
    desired = parse(doc)
    assert all(n.settings == "" and n.settings_key == "default" for n in desired.nodes)
    assert all(set(n) == {"name", "nodePool", "nodeClass", "instanceTypes", "capacityType", "zones", "architecture",
                          "labels", "taints", "reason", "state"} for n in desired.to_dict()["nodes"])
    spelled_out = valid_doc()
    spelled_out["nodes"][0]["settings"] = "default"  # the default, spelled out, is the same node
    assert parse(spelled_out) == desired


def test_zone_and_architecture_are_checked_against_the_nodes_own_settings():
    doc = versioned_doc()
    doc["nodeClasses"]["default@1a2b3c4d"]["amis"] = {"amd64": "ami-0aaaaaaaaaaaaaaaa"}
    doc["nodeClasses"]["default@1a2b3c4d"]["subnets"] = {"us-east-1a": "subnet-0123456789abcdef0"}
    with pytest.raises(DesiredNodeSetError) as err:
        parse(doc)
    assert err.value.problems == [
        "nodes[1].zones[0]: zone 'us-east-1b' has no subnet in nodeClasses.default@1a2b3c4d.subnets",
        "nodes[1].architecture: 'arm64' has no AMI in nodeClasses.default@1a2b3c4d.amis",
    ]


def test_node_class_keys_are_names_with_an_optional_version():
    doc = valid_doc()
    doc["nodeClasses"]["Default@x!"] = doc["nodeClasses"]["default"]
    with pytest.raises(DesiredNodeSetError) as err:
        parse(doc)
    assert any("nodeClasses.Default@x!: node class key 'Default@x!' is not a NodeClass name" in p
               for p in err.value.problems), err.value.problems
