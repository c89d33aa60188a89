"""Node registration: an instance launched directly in the local EC2 becomes a Ready Node."""

from __future__ import annotations

import pytest

from provisioner.catalog import allocatable
from provisioner.catalog.labels import node_labels
from provisioner.catalog.resources import Resources
from provisioner.fleet.userdata import Taint
from provisioner.localcloud.node_registrar import KubeletSettings

from .helpers import instance_type, launch, wait_nodes_ready

pytestmark = pytest.mark.cluster


def test_instance_registers_ready_node_with_labels_taints_allocatable(local_cluster, namespace) -> None:
    pool = f"np-{namespace}"
    pool_labels = {"team": "blue", "workload": "batch"}
    taints = [Taint("dedicated", "NoSchedule", "blue")]
    (inst,) = launch(local_cluster, pool, "m5.xlarge", labels=pool_labels, taints=taints, spot=True,
                     extra={"kubelet": {"config": {"maxPods": 40}}})

    node = wait_nodes_ready(local_cluster, [inst.node_name])[inst.node_name]

    it = instance_type(local_cluster, "m5.xlarge")
    region = local_cluster.region
    expected_labels = {**pool_labels, **node_labels(it, inst.zone, region, "spot", pool, hostname=inst.node_name)}
    labels = node["metadata"]["labels"]
    assert {k: labels.get(k) for k in expected_labels} == expected_labels
    assert labels["karpenter.sh/capacity-type"] == "spot" and labels["karpenter.k8s.aws/instance-cpu"] == "4"
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["spec"]["providerID"] == f"aws:///{inst.zone}/{inst.instance_id}"
    assert {"key": "dedicated", "value": "blue", "effect": "NoSchedule"} in node["spec"]["taints"]

    kubelet = KubeletSettings(max_pods=40)
    assert Resources.parse(node["status"]["allocatable"]) == allocatable.allocatable(it, kubelet)
    assert Resources.parse(node["status"]["capacity"]) == allocatable.capacity(it, kubelet)
    assert Resources.parse(node["status"]["allocatable"])["pods"] == 40
