import json

from click.testing import CliRunner

from provisioner.cli.simulate import simulate_cmd
from tests.unit.scheduling.scenario import FIXTURES

CLI = FIXTURES / "cli"


def test_simulate_json_contract():
    res = CliRunner().invoke(simulate_cmd, ["--nodepools", str(CLI / "nodepools.yaml"), "--pods",
                                            str(CLI / "pods.yaml"), "-o", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) >= {"nodes", "unschedulable", "cost_per_hour", "lower_bound_per_hour", "solve_seconds"}
    assert {u["pod"] for u in out["unschedulable"]} == {"shop/huge"}
    placed = sorted(p for n in out["nodes"] for p in n["pods"])
    assert placed == ["shop/web-1", "shop/web-2"]
    for n in out["nodes"]:
        assert set(n) >= {"name", "nodepool", "existing", "instance_type", "instance_types", "capacity_type",
                          "zone", "price_per_hour", "pods"}
        assert n["instance_type"] == n["instance_types"][0]
    assert len({n["zone"] for n in out["nodes"]}) == 2
    assert out["lower_bound_per_hour"] <= out["cost_per_hour"]


def test_simulate_table():
    res = CliRunner().invoke(simulate_cmd, ["--nodepools", str(CLI / "nodepools.yaml"), "--pods",
                                            str(CLI / "pods.yaml")])
    assert res.exit_code == 0, res.output
    assert "Unschedulable" in res.output and "gap" in res.output


def test_simulate_rejects_invalid_nodepool(tmp_path):
    bad = tmp_path / "np.yaml"
    bad.write_text("apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: x}\nspec: {}\n")
    res = CliRunner().invoke(simulate_cmd, ["--nodepools", str(bad), "--pods", str(CLI / "pods.yaml")])
    assert res.exit_code != 0
