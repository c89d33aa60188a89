"""deploy/rbac.yaml is enough: the controller runs with a token of its ServiceAccount."""

from __future__ import annotations

import json

import pytest
import yaml

from .conftest import REPO, all_running, deployment

pytestmark = pytest.mark.cluster

PATHS = {"ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
         "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
         "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"}


def test_controller_runs_with_the_service_account_of_deploy_rbac(prov, namespace):
    for doc in yaml.safe_load_all((REPO / "deploy" / "rbac.yaml").read_text()):
        path = PATHS[doc["kind"]].format(ns=doc["metadata"].get("namespace", ""))
        prov.kube.call("POST", path, doc, ok=(409,))
    token = prov.kube.call("POST", "/api/v1/namespaces/kube-system/serviceaccounts/provisioner/token",
                           {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                            "spec": {"expirationSeconds": 3600}})["status"]["token"]
    config = json.loads(prov.lc.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": token}
    kubeconfig = prov.tmp / "sa-kubeconfig"
    kubeconfig.write_text(json.dumps(config))

    prov.nodepool("general")
    c = prov.start(kubeconfig=kubeconfig)
    prov.apply([deployment("web", namespace, 2, cpu="1")])
    all_running(prov.kube, namespace, 2)
    log = c.log_text()
    assert "HTTP 403" not in log and "forbidden" not in log.lower(), log[-2000:]  # (kube errors read "HTTP <status>")
    assert c.metric("provisioner_stack_updates_total") >= 1
