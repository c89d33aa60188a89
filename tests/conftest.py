"""Shared fixtures: one local cluster per test session, a fresh namespace per test.

    @pytest.mark.cluster
    def test_x(local_cluster, namespace):
        kube = local_cluster.kube()            # raw JSON Kubernetes calls
        ec2 = local_cluster.ec2().client()     # boto3 EC2 client on the local EC2
        local_cluster.kubeconfig, local_cluster.cluster, local_cluster.ec2().seed()
"""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from provisioner.localcloud.cluster import LocalCluster
from tests.polling import wait_for


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    lc = LocalCluster(tmp_path_factory.mktemp("local-cluster"), cluster="test", boot_delay=0)
    try:
        lc.up()
        yield lc
    finally:
        lc.down()


@pytest.fixture
def namespace(local_cluster: LocalCluster) -> Iterator[str]:
    """A new namespace whose `default` ServiceAccount exists (pods are rejected until it does)."""
    kube = local_cluster.kube()
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    wait_for(lambda: kube.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")[0] == 200, 30,
             f"the default ServiceAccount in {name}", 0.1)
    yield name
    kube.call("DELETE", f"/api/v1/namespaces/{name}", ok=(404,))
