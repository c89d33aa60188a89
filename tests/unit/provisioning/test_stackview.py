from provisioner.fleet.desired import DesiredNode, DesiredNodeSet
from provisioner.provisioning.planner import Launched
from provisioner.provisioning.report import Reporter
from provisioner.provisioning.stackview import recorded, stack_nodes


def node(name):
    return DesiredNode(name=name, node_pool="p", node_class="c", instance_types=("m5.large",),
                       capacity_type="spot", zones=("us-east-1b",))


def test_state_nodes_and_what_they_launched():
    desired = DesiredNodeSet("c", "us-east-1", {}, (node("p-a"), node("p-b"), node("p-c")))
    deployment = {"resources": [
        {"type": "aws:ec2/fleet:Fleet", "urn": "urn:pulumi:s::p::aws:ec2/fleet:Fleet::node-p-a",
         "outputs": {"fleetInstanceSets": [{"instanceIds": ["i-1"], "instanceType": "m5a.large", "lifecycle": "spot"}]}},
        {"type": "aws:ec2/fleet:Fleet", "urn": "urn:pulumi:s::p::aws:ec2/fleet:Fleet::node-p-b", "outputs": {}},
        {"type": "aws:ec2/launchTemplate:LaunchTemplate", "urn": "urn::lt-x"},
    ]}
    nodes = stack_nodes(deployment, desired)
    assert nodes == {"p-a": Launched("m5a.large", "spot", "us-east-1b"), "p-b": None}
    # after a failed update the config lists p-c too, but the state does not hold it
    assert [n.name for n in recorded(desired, nodes, "c", "us-east-1").nodes] == ["p-a", "p-b"]


class NoKube:
    def __init__(self):
        self.calls = 0

    def call(self, *a, **k):
        self.calls += 1


def test_each_event_once_per_object_reason_and_message():
    kube = NoKube()
    r = Reporter(kube)
    pod = {"metadata": {"name": "a", "namespace": "n", "uid": "u1"}}
    for _ in range(3):
        r.pod_event(pod, "NotProvisionable", "too big")
    r.pod_event(pod, "NotProvisionable", "something else now")
    r.close()
    assert kube.calls == 2
