from provisioner.catalog.ec2data import instance_type_items
from provisioner.catalog.instancetypes import from_ec2
from provisioner.catalog.labels import node_labels


def test_well_known_labels():
    it = from_ec2(instance_type_items()["m6g.xlarge"])
    labels = node_labels(it, "us-east-1a", "us-east-1", "spot", "default", hostname="ip-10-0-0-1")
    assert labels["node.kubernetes.io/instance-type"] == "m6g.xlarge"
    assert labels["topology.kubernetes.io/zone"] == "us-east-1a"
    assert labels["topology.kubernetes.io/region"] == "us-east-1"
    assert labels["kubernetes.io/arch"] == "arm64"
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/hostname"] == "ip-10-0-0-1"
    for p in ("provisioner.sh/", "karpenter.sh/"):
        assert labels[p + "capacity-type"] == "spot"
        assert labels[p + "nodepool"] == "default"
    for p in ("provisioner.sh/", "karpenter.k8s.aws/"):
        assert labels[p + "instance-family"] == "m6g"
        assert labels[p + "instance-category"] == "m"
        assert labels[p + "instance-generation"] == "6"
        assert labels[p + "instance-size"] == "xlarge"
        assert labels[p + "instance-cpu"] == "4"
        assert labels[p + "instance-memory"] == "16384"
    assert "provisioner.sh/instance-gpu-count" not in labels


def test_gpu_labels():
    it = from_ec2(instance_type_items()["g5.xlarge"])
    labels = node_labels(it, "us-east-1a", "us-east-1", "on-demand", "gpu")
    assert labels["provisioner.sh/instance-gpu-name"] == "a10g"
    assert labels["karpenter.k8s.aws/instance-gpu-count"] == "1"
