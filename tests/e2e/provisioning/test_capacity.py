"""A fleet that launches nothing: the offering is marked unavailable and the pods are re-planned at once."""

from __future__ import annotations

import pytest

from .conftest import all_running, deployment, nodes_by_name

pytestmark = pytest.mark.cluster


def test_capacity_error_replans_on_another_offering(prov, namespace, local_cluster):
    types = ["c6a.large", "m6a.large"]
    prov.nodepool("ice", requirements=[{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types},
                                       {"key": "provisioner.sh/capacity-type", "operator": "In",
                                        "values": ["spot", "on-demand"]}])
    ec2 = local_cluster.ec2()
    for t in types:
        ec2.inject_capacity_error(t, "*", "spot")
    try:
        c = prov.start()
        prov.apply([deployment("web", namespace, 2, cpu="1")])
        pods = all_running(prov.kube, namespace, 2, timeout=150)
    finally:
        ec2.clear_capacity_errors()
    nodes = nodes_by_name(prov.kube)
    assert {nodes[p["spec"]["nodeName"]]["metadata"]["labels"]["provisioner.sh/capacity-type"] for p in pods} == {
        "on-demand"}
    assert c.metric("provisioner_stack_update_failures_total", 'kind="capacity"') >= 1
    assert c.metric("provisioner_unavailable_offerings") >= 1
    assert "re-planning at once" in c.log_text()
