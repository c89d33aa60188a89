"""The real API server, given our CRDs, accepts and rejects the corpus as the Python validator does.

This is the one place the CEL rules run for real. It needs the locally built kube-apiserver
and kine (`provisioner tools --ensure`); without them it is skipped. About 10 s.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from provisioner.api import crd, load_documents
from provisioner.localcloud.cluster import kine_endpoint
from provisioner.toolchain.tools import TOOLS
from tests.polling import wait_for

from .corpus import INVALID, VALID, Case

pytestmark = pytest.mark.cluster

TOKEN = "api-types-test"
PLURAL = {"NodePool": "nodepools", "NodeClass": "nodeclasses"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, port: int) -> None:
        self.base = f"https://127.0.0.1:{port}"
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as resp:
                return resp.status, _json(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _json(exc.read())

    def create(self, doc: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self.request("POST", f"/apis/provisioner.sh/v1/{PLURAL[doc['kind']]}?dryRun=All&fieldValidation=Strict",
                            doc)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return {"message": raw.decode(errors="replace")}


def _wait(check: Any, what: str, timeout: float = 120.0) -> None:
    wait_for(check, timeout, what, ignore=(OSError, urllib.error.URLError))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    k8s, kine = TOOLS["kubernetes"], TOOLS["kine"]
    if k8s.problem() or kine.problem():
        pytest.skip("kube-apiserver/kine not built (provisioner tools --ensure)")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    work = tmp_path_factory.mktemp("apiserver")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (work / "sa.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    (work / "tokens.csv").write_text(f"{TOKEN},admin,admin,system:masters\n")
    kine_port, api_port = _free_port(), _free_port()
    procs = []
    try:
        log = open(work / "kine.log", "wb")
        procs.append(subprocess.Popen([str(kine.path()), "--listen-address", f"127.0.0.1:{kine_port}",
                                       "--endpoint", kine_endpoint(work / "db.sqlite"), "--metrics-bind-address", "0"],
                                      stdout=log, stderr=log, start_new_session=True))
        log = open(work / "apiserver.log", "wb")
        procs.append(subprocess.Popen([
            str(k8s.path("kube-apiserver")), f"--etcd-servers=http://127.0.0.1:{kine_port}",
            "--bind-address=127.0.0.1", f"--secure-port={api_port}", f"--cert-dir={work}/certs",
            f"--token-auth-file={work}/tokens.csv", "--authorization-mode=AlwaysAllow",
            f"--service-account-key-file={work}/sa.key", f"--service-account-signing-key-file={work}/sa.key",
            "--service-account-issuer=https://kubernetes.default.svc", "--service-cluster-ip-range=10.0.0.0/24",
            "--storage-backend=etcd3"], stdout=log, stderr=log, start_new_session=True))
        srv = Server(api_port)
        _wait(lambda: srv.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")[0] == 200,
              "apiserver serving")
        for crd_doc in (crd.nodepool_crd(), crd.nodeclass_crd()):
            # The API server accepts our CRDs: structural, CEL compiles and fits the cost budget.
            # (Until its start-up hooks finish it may answer 500; those are retried.)
            answer: list[Any] = []
            _wait(lambda: answer.append(srv.request(
                "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd_doc)) or answer[-1][0] != 500,
                "CRD create")
            assert answer[-1][0] == 201, answer[-1][1]
        _wait(lambda: all(srv.request("GET", f"/apis/provisioner.sh/v1/{p}")[0] == 200 for p in PLURAL.values()),
              "CRDs served")
        yield srv
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.mark.parametrize("doc", [d for _, d in VALID], ids=[i for i, _ in VALID])
def test_apiserver_accepts_valid(server: Server, doc: dict[str, Any]) -> None:
    status, body = server.create(doc)
    assert status == 201, body.get("message")


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_apiserver_rejects_invalid(server: Server, case: Case) -> None:
    status, body = server.create(case.doc)
    assert status in (400, 422), f"accepted, but the validator says: {case.error}"
    # ... and complains about the same field (a rule on a map reports the map, not the entry).
    path = case.error.split(": ", 1)[0]
    if body.get("reason") == "BadRequest":  # strict decoding: unknown field
        assert f'unknown field "{path}"' in body["message"]
        return
    fields = {c.get("field") for c in body["details"]["causes"]}
    assert re.sub(r'\["([^"]*)"\]', r".\1", path) in fields or re.sub(r'\["[^"]*"\]$', "", path) in fields, \
        (path, fields)


def test_apiserver_applies_our_defaults(server: Server) -> None:
    minimal = VALID[1][1]
    status, body = server.create(minimal)
    assert status == 201
    assert load_documents([body]) == load_documents([minimal])
    assert body["spec"]["disruption"] == {"consolidationPolicy": "WhenEmptyOrUnderutilized",
                                          "consolidateAfter": "5m", "budgets": [{"nodes": "10%"}]}
    assert body["spec"]["template"]["spec"]["expireAfter"] == "720h"


def test_apiserver_accepts_samples(server: Server) -> None:
    root = Path(__file__).resolve().parents[3] / "stacks" / "samples"
    for path in sorted(root.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            status, body = server.create(doc)
            assert status == 201, (path.name, body.get("message"))
