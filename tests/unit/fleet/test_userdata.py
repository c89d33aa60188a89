import base64

import pytest

from provisioner.fleet import userdata
from provisioner.fleet.userdata import Taint


def test_round_trip_labels_and_taints() -> None:
    labels = {"team": "a", "provisioner.sh/nodepool": "default", "empty": ""}
    taints = [Taint("dedicated", "NoSchedule", "gpu"), Taint("spot", "PreferNoSchedule")]
    text = userdata.render(labels, taints)
    assert text.startswith("MIME-Version: 1.0")
    assert "application/node.eks.aws" in text and "node.eks.aws/v1alpha1" in text
    assert userdata.parse(text) == (labels, taints)


def test_render_is_deterministic_and_base64_parses() -> None:
    a = userdata.render({"b": "2", "a": "1"}, [])
    assert a == userdata.render({"a": "1", "b": "2"}, [])
    assert userdata.parse(base64.b64encode(a.encode()).decode()) == ({"a": "1", "b": "2"}, [])


def test_extra_merges_into_spec_and_kubelet_config() -> None:
    text = userdata.render({"x": "y"}, [], {"cluster": {"name": "c1"}, "kubelet": {"config": {"maxPods": 42}}})
    assert userdata.kubelet_config(text) == {"maxPods": 42}
    assert userdata.parse(text) == ({"x": "y"}, [])
    assert userdata.node_configs(text)[0]["spec"]["cluster"] == {"name": "c1"}


def test_no_labels_no_taints() -> None:
    assert userdata.parse(userdata.render({}, [])) == ({}, [])


def test_plain_yaml_nodeconfig() -> None:
    text = ("apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    flags:\n"
            "    - --node-labels=a=b\n    - --register-with-taints=k:NoExecute\n")
    assert userdata.parse(text) == ({"a": "b"}, [Taint("k", "NoExecute")])


def test_bad_taint_effect_rejected() -> None:
    with pytest.raises(userdata.UserDataError):
        userdata.render({}, [Taint("k", "Sometimes")])
    with pytest.raises(userdata.UserDataError):
        userdata.parse_taint("k=v")
