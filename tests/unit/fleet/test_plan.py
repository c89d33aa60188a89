from dataclasses import replace

from provisioner.fleet import ownership
from provisioner.fleet.plan import plan_fleet
from provisioner.fleet.validation import parse

from .samples import valid_doc


def test_one_template_per_distinct_content_and_one_spec_per_node():
    doc = valid_doc()
    doc["nodes"].append({**doc["nodes"][0], "name": "web-2", "reason": "another reason"})
    plan = plan_fleet(parse(doc))
    assert len(plan.nodes) == 3
    assert len(plan.templates) == 2  # web-1 and web-2 share content; arm-1 differs (arm64 AMI)
    assert plan.nodes[0].template.key == plan.nodes[2].template.key


def test_template_identity_is_content_addressed():
    desired = parse(valid_doc())
    key = plan_fleet(desired).nodes[0].template.key
    assert plan_fleet(parse(valid_doc())).nodes[0].template.key == key  # unchanged -> no diff
    relabelled = desired.with_nodes([replace(desired.nodes[0], labels={"tier": "api"}), desired.nodes[1]])
    assert plan_fleet(relabelled).nodes[0].template.key != key
    doc = valid_doc()
    doc["nodeClasses"]["default"]["amis"]["amd64"] = "ami-0aaaaaaaaaaaaaaaa"
    assert plan_fleet(parse(doc)).nodes[0].template.key != key


def test_overrides_rank_types_first_then_zones():
    spec = plan_fleet(parse(valid_doc())).nodes[0]
    assert [(o.instance_type, o.zone, o.priority) for o in spec.overrides] == [
        ("m6i.large", "us-east-1a", 0), ("m6i.large", "us-east-1b", 1),
        ("m5.large", "us-east-1a", 2), ("m5.large", "us-east-1b", 3),
    ]
    assert spec.overrides[1].subnet_id == "subnet-0123456789abcdef1"


def test_ownership_tags_on_templates_and_nodes():
    plan = plan_fleet(parse(valid_doc()))
    for tags in [plan.templates[0].tags, plan.nodes[0].tags]:
        assert tags[ownership.CLUSTER] == "demo"
        assert tags[ownership.NODEPOOL] == "default"
        assert tags[ownership.MANAGED_BY] == "provisioner"
        assert tags["kubernetes.io/cluster/demo"] == "owned"
        assert tags["team"] == "platform"
    assert plan.nodes[0].tags[ownership.NODE_NAME] == "web-1"


def test_user_data_carries_labels_and_taints():
    template = plan_fleet(parse(valid_doc())).nodes[0].template
    assert "--node-labels=tier=web" in template.user_data
    assert "--register-with-taints=dedicated=web:NoSchedule" in template.user_data
