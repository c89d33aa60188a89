import pytest

from provisioner.api.types import KubeletConfig
from provisioner.catalog.allocatable import (
    MIB, allocatable, capacity, kube_reserved_cpu_millis, max_pods,
)
from provisioner.catalog.ec2data import instance_type_items
from provisioner.catalog.instancetypes import from_ec2
from provisioner.catalog.resources import NVIDIA_GPU


def it(name):
    return from_ec2(instance_type_items()[name])


@pytest.mark.parametrize("name,pods", [
    ("m5.large", 29), ("m5.xlarge", 58), ("m5.2xlarge", 58), ("m5.4xlarge", 234),
    ("c5.large", 29), ("t3.micro", 4), ("t3.medium", 17), ("m5.24xlarge", 737),
])
def test_eks_max_pods(name, pods):
    assert max_pods(it(name)) == pods


def test_kubelet_max_pods_and_pods_per_core():
    assert max_pods(it("m5.large"), KubeletConfig(max_pods=110)) == 110
    assert max_pods(it("m5.xlarge"), KubeletConfig(pods_per_core=10)) == 40
    assert max_pods(it("m5.large"), KubeletConfig(max_pods=110, pods_per_core=10)) == 20


@pytest.mark.parametrize("vcpu,millis", [(1, 60), (2, 70), (4, 80), (8, 90), (16, 110), (96, 310)])
def test_cpu_ladder(vcpu, millis):
    assert kube_reserved_cpu_millis(vcpu) == millis


def test_m5_large_allocatable():
    a = allocatable(it("m5.large"))
    assert a["cpu"] == 2000 - 70
    cap_mem = (8192 - 615) * MIB
    assert capacity(it("m5.large"))["memory"] == cap_mem
    assert a["memory"] == cap_mem - (11 * 29 + 255) * MIB - 100 * MIB
    assert a["pods"] == 29
    assert a["ephemeral-storage"] == 20 * 2**30 - 2 * 2**30


def test_kubelet_overrides():
    k = KubeletConfig(kube_reserved={"cpu": "200m"}, system_reserved={"memory": "1Gi"},
                      eviction_hard={"memory.available": "5%"})
    a = allocatable(it("m5.large"), k)
    assert a["cpu"] == 1800
    cap = capacity(it("m5.large"), k)["memory"]
    assert a["memory"] == cap - (11 * 29 + 255) * MIB - 2**30 - -(-cap * 5 // 100)


def test_gpu():
    g = it("g5.xlarge")
    assert g.gpu_count == 1 and g.gpu_name == "a10g" and g.gpu_manufacturer == "nvidia"
    assert allocatable(g)[NVIDIA_GPU] == 1
    assert NVIDIA_GPU not in allocatable(it("m5.large"))
