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


def test_kept_nodes_keep_their_templates_when_the_node_class_gets_a_new_ami():
    before = parse(valid_doc())
    doc = valid_doc()
    newer = {**doc["nodeClasses"]["default"], "amis": {"amd64": "ami-0aaaaaaaaaaaaaaaa", "arm64": "ami-0fedcba9876543210"}}
    doc["nodeClasses"]["default@1a2b3c4d"] = newer
    doc["nodes"].append({**doc["nodes"][0], "name": "web-2", "settings": "default@1a2b3c4d"})
    after = parse(doc)

    old_plan, new_plan = plan_fleet(before), plan_fleet(after)
    old_specs = {s.node.name: s for s in old_plan.nodes}
    new_specs = {s.node.name: s for s in new_plan.nodes}
    for name in ("web-1", "arm-1"):  # the program declares exactly the same template and Fleet for them
        assert new_specs[name] == old_specs[name]
        assert new_specs[name].template.image_id != "ami-0aaaaaaaaaaaaaaaa"
    web2 = new_specs["web-2"]
    assert web2.template.image_id == "ami-0aaaaaaaaaaaaaaaa"
    assert web2.template.key != old_specs["web-1"].template.key
    assert web2.template.node_class == "default"
    assert web2.tags[ownership.NODECLASS] == "default" and web2.template.tags[ownership.NODECLASS] == "default"
    assert {t.key for t in new_plan.templates} == {t.key for t in old_plan.templates} | {web2.template.key}


def test_overrides_and_tags_come_from_the_nodes_own_settings():
    doc = valid_doc()
    newer = {**doc["nodeClasses"]["default"], "tags": {"team": "infra"},
             "subnets": {"us-east-1a": "subnet-0aaaaaaaaaaaaaaaa", "us-east-1b": "subnet-0bbbbbbbbbbbbbbbb"}}
    doc["nodeClasses"]["default@1a2b3c4d"] = newer
    doc["nodes"].append({**doc["nodes"][0], "name": "web-2", "settings": "default@1a2b3c4d"})
    specs = {s.node.name: s for s in plan_fleet(parse(doc)).nodes}
    assert specs["web-1"].overrides[0].subnet_id == "subnet-0123456789abcdef0"
    assert specs["web-2"].overrides[0].subnet_id == "subnet-0aaaaaaaaaaaaaaaa"
    assert specs["web-1"].tags["team"] == "platform" and specs["web-2"].tags["team"] == "infra"


def test_a_draining_node_carries_its_state_and_disruption_reason_and_keeps_its_template():
    desired = parse(valid_doc())
    draining = desired.with_nodes([replace(desired.nodes[0], state="draining", reason="Underutilized"),
                                   *desired.nodes[1:]])
    before, after = plan_fleet(desired).nodes[0], plan_fleet(draining).nodes[0]
    assert after.tags[ownership.STATE] == "draining"
    assert after.tags[ownership.DISRUPTION_REASON] == "Underutilized"
    assert ownership.DISRUPTION_REASON not in before.tags and before.tags[ownership.STATE] == "active"
    assert after.template.key == before.template.key  # marking a node never replaces it
