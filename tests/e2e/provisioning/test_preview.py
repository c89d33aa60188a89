"""`provisioner preview`: what the loop would do now, without doing it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REPO, deployment, pods_of, wait_for

pytestmark = pytest.mark.cluster


def test_preview_shows_the_planned_update_and_changes_nothing(prov, namespace):
    pool = prov.nodepool("general")
    prov.apply([deployment("web", namespace, 3, cpu="1")])
    wait_for(lambda: len([p for p in pods_of(prov.kube, namespace) if any(
        c.get("reason") == "Unschedulable" for c in p["status"].get("conditions") or ())]) == 3, 60,
        "3 pods marked unschedulable")
    out = subprocess.run([sys.executable, "-m", "provisioner", "preview", f"--kubeconfig={prov.lc.kubeconfig}",
                          f"--cluster={prov.lc.cluster}", f"--stack={prov.stack}",
                          f"--local-state-dir={prov.lc.state_dir}", "-o", "json"],
                         check=True, capture_output=True, text=True, cwd=REPO, env=prov.env(), timeout=180)
    plan = json.loads(out.stdout.strip().splitlines()[-1])
    assert plan["message"].startswith("scale-up: +") and plan["added"]
    assert all(name.startswith(pool + "-") for name in plan["added"])
    creates = [c for c in plan["changes"]["changes"] if c["kind"] == "node" and c["op"] == "create"]
    assert sorted(c["name"] for c in creates) == sorted(plan["added"])
    assert all(c["reason"].endswith(f"{namespace}/web") for c in creates)
    assert plan["policies_passed"]
    assert prov.instances_of(set(plan["added"])) == [] and not prov.fleet().history()
