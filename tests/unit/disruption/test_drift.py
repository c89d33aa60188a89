from dataclasses import replace

from provisioner.api.types import NodePool, Requirement
from provisioner.api.types import Taint as PoolTaint
from provisioner.fleet.desired import DesiredNode, DesiredNodeSet, NodeClassSettings, Taint
from provisioner.disruption.drift import drifted
from provisioner.provisioning.planner import Launched, World

SETTINGS = NodeClassSettings(name="default", amis={"amd64": "ami-1", "arm64": "ami-7"},
                             subnets={"us-east-1a": "subnet-a", "us-east-1b": "subnet-b"},
                             security_group_ids=("sg-1",), user_data="")
POOL = NodePool(name="web", labels={"team": "shop"}, node_class_ref="default",
                requirements=(Requirement("karpenter.sh/capacity-type", "In", ("spot", "on-demand")),
                              Requirement("node.kubernetes.io/instance-type", "In", ("m5.large", "m6i.large"))),
                taints=(PoolTaint("dedicated", "web", "NoSchedule"),))


def desired_node(name="web-aaaaa", **kw):
    base = DesiredNode(name=name, node_pool="web", node_class="default", instance_types=("m5.large", "m6i.large"),
                       capacity_type="spot", zones=("us-east-1a",), labels={"team": "shop"},
                       taints=(Taint("dedicated", "NoSchedule", "web"),))
    return replace(base, **kw)


def k8s_node(name="web-aaaaa", pool="web", itype="m5.large", zone="us-east-1a", ct="spot", ours=True, labels=None):
    lab = {"provisioner.sh/nodepool": pool, "karpenter.sh/nodepool": pool, "node.kubernetes.io/instance-type": itype,
           "topology.kubernetes.io/zone": zone, "provisioner.sh/capacity-type": ct, "karpenter.sh/capacity-type": ct,
           "kubernetes.io/arch": "amd64", "team": "shop"}
    if labels is not None:
        lab = labels
    return {"metadata": {"name": name, "labels": lab},
            "spec": {"providerID": f"aws:///{zone}/i-{name}" if ours else f"kind://{name}"}}


def world(nodes=None, desired_nodes=None, pools=(POOL,), settings=None, recorded=None, launched=None):
    desired_nodes = (desired_node(),) if desired_nodes is None else tuple(desired_nodes)
    nodes = (k8s_node(),) if nodes is None else tuple(nodes)
    return World(pods=(), nodes=nodes, nodepools=tuple(pools), nodeclasses=(),
                 settings={"default": SETTINGS} if settings is None else settings,
                 desired=DesiredNodeSet("c", "us-east-1", recorded or {"default": SETTINGS}, desired_nodes),
                 launched=launched or {})


def test_a_node_that_matches_its_nodepool_and_nodeclass_has_not_drifted():
    assert drifted(world()) == {}


def test_new_ami_for_the_nodes_architecture():
    now = replace(SETTINGS, amis={"amd64": "ami-2", "arm64": "ami-7"})
    assert drifted(world(settings={"default": now})) == {"web-aaaaa": "AMI of NodeClass default changed (ami-1 -> ami-2)"}


def test_new_ami_for_another_architecture_is_no_drift():
    now = replace(SETTINGS, amis={"amd64": "ami-1", "arm64": "ami-8"})
    assert drifted(world(settings={"default": now})) == {}


def test_other_nodeclass_fields_are_named():
    now = replace(SETTINGS, security_group_ids=("sg-2",), user_data="apiVersion: node.eks.aws/v1alpha1")
    assert drifted(world(settings={"default": now})) == {"web-aaaaa": "NodeClass default changed (securityGroups, userData)"}


def test_security_group_order_is_no_drift():
    recorded = replace(SETTINGS, security_group_ids=("sg-1", "sg-2"))
    now = replace(SETTINGS, security_group_ids=("sg-2", "sg-1"))
    assert drifted(world(settings={"default": now}, recorded={"default": recorded})) == {}


def test_subnets_count_only_for_the_nodes_zone():
    elsewhere = replace(SETTINGS, subnets={"us-east-1a": "subnet-a", "us-east-1b": "subnet-z", "us-east-1c": "subnet-c"})
    assert drifted(world(settings={"default": elsewhere})) == {}
    here = replace(SETTINGS, subnets={"us-east-1a": "subnet-new", "us-east-1b": "subnet-b"})
    assert drifted(world(settings={"default": here})) == {"web-aaaaa": "NodeClass default changed (subnets)"}


def test_each_node_is_compared_with_the_settings_it_was_launched_with():
    newer = replace(SETTINGS, name="default@1a2b3c4d", amis={"amd64": "ami-2", "arm64": "ami-7"})
    nodes = [desired_node("web-old"), desired_node("web-new", settings="default@1a2b3c4d")]
    w = world(nodes=[k8s_node("web-old"), k8s_node("web-new")], desired_nodes=nodes,
              settings={"default": replace(newer, name="default")},
              recorded={"default": SETTINGS, "default@1a2b3c4d": newer})
    assert drifted(w) == {"web-old": "AMI of NodeClass default changed (ami-1 -> ami-2)"}


def test_no_drift_claim_when_the_nodeclass_cannot_be_resolved_now():
    assert drifted(world(settings={})) == {}


def test_nodepool_labels():
    pool = replace(POOL, labels={"team": "checkout", "tier": "web"})
    assert drifted(world(pools=[pool])) == {"web-aaaaa": "NodePool web labels changed (team, tier)"}


def test_nodepool_taints_include_startup_taints():
    pool = replace(POOL, startup_taints=(PoolTaint("example.com/init", "", "NoSchedule"),))
    assert drifted(world(pools=[pool])) == {"web-aaaaa": "NodePool web taints changed (example.com/init)"}
    pool = replace(POOL, taints=(PoolTaint("dedicated", "web", "NoExecute"),))
    assert drifted(world(pools=[pool])) == {"web-aaaaa": "NodePool web taints changed (dedicated)"}


def test_nodepool_requirements_no_longer_allowing_the_launched_offering():
    pool = replace(POOL, requirements=(Requirement("karpenter.sh/capacity-type", "In", ("spot",)),
                                       Requirement("node.kubernetes.io/instance-type", "In", ("m6i.large",))))
    assert drifted(world(pools=[pool])) == {
        "web-aaaaa": "NodePool web requirements no longer allow m5.large/us-east-1a/spot "
                     "(node.kubernetes.io/instance-type In [m6i.large])"}


def test_a_pool_silent_on_capacity_type_allows_only_on_demand_as_the_scheduler_reads_it():
    pool = replace(POOL, requirements=())
    assert drifted(world(pools=[pool])) == {
        "web-aaaaa": "NodePool web requirements no longer allow m5.large/us-east-1a/spot "
                     "(karpenter.sh/capacity-type In [on-demand])"}


def test_requirement_operators_come_from_the_scheduler():
    pool = replace(POOL, requirements=POOL.requirements + (
        Requirement("topology.kubernetes.io/zone", "NotIn", ("us-east-1a",)),
        Requirement("karpenter.k8s.aws/instance-cpu", "Gt", ("4",))))  # a label the node does not carry
    assert drifted(world(pools=[pool])) == {
        "web-aaaaa": "NodePool web requirements no longer allow m5.large/us-east-1a/spot "
                     "(topology.kubernetes.io/zone NotIn [us-east-1a])"}


def test_the_launched_offering_fills_in_labels_the_node_lacks():
    bare = k8s_node(labels={"provisioner.sh/nodepool": "web"})
    pool = replace(POOL, requirements=(Requirement("karpenter.sh/capacity-type", "In", ("on-demand",)),))
    w = world(nodes=[bare], pools=[pool], launched={"web-aaaaa": Launched("m5.large", "spot", "us-east-1b")})
    assert drifted(w) == {"web-aaaaa": "NodePool web requirements no longer allow m5.large/us-east-1b/spot "
                                       "(karpenter.sh/capacity-type In [on-demand])"}


def test_a_deleted_nodepool():
    assert drifted(world(pools=[])) == {"web-aaaaa": "NodePool web no longer exists"}


def test_a_nodepool_now_on_another_nodeclass():
    pool = replace(POOL, node_class_ref="gpu")
    assert drifted(world(pools=[pool])) == {"web-aaaaa": "NodePool web now uses NodeClass gpu (node has default)"}


def test_several_reasons_in_one_line():
    now = replace(SETTINGS, amis={"amd64": "ami-2", "arm64": "ami-7"})
    pool = replace(POOL, labels={"team": "checkout"})
    assert drifted(world(settings={"default": now}, pools=[pool])) == {
        "web-aaaaa": "AMI of NodeClass default changed (ami-1 -> ami-2); NodePool web labels changed (team)"}


def test_only_registered_nodes_of_ours_in_the_desired_node_set():
    now = replace(SETTINGS, amis={"amd64": "ami-2", "arm64": "ami-7"})
    nodes = [k8s_node("web-aaaaa"), k8s_node("kind-worker", ours=False), k8s_node("stranger")]
    desired = [desired_node("web-aaaaa"), desired_node("kind-worker"), desired_node("web-inflight")]
    assert list(drifted(world(nodes=nodes, desired_nodes=desired, settings={"default": now}))) == ["web-aaaaa"]
