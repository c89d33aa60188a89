"""The fleet program: a pure function from the desired node set to pulumi-aws resources.

One launch template per distinct template content, one `aws.ec2.Fleet` (type `instant`,
target capacity 1) per node. The fleet's ranked overrides let EC2 fall back across
instance types and zones inside one call, which is what a node needs when spot capacity
runs out. The same function runs from the Automation API (inline) and from the root
`Pulumi.yaml` (a plain `pulumi preview` / `pulumi up` by an operator).
"""

from __future__ import annotations

import base64

import pulumi
import pulumi_aws as aws

from provisioner.fleet.desired import DesiredNodeSet
from provisioner.fleet.plan import LaunchTemplateSpec, NodeSpec, plan_fleet
from provisioner.fleet.validation import parse

CONFIG_NAMESPACE = "provisioner"
CONFIG_KEY = "desiredNodeSet"
SPOT_STRATEGY = "capacity-optimized-prioritized"
ON_DEMAND_STRATEGY = "prioritized"


def fleet_program() -> None:
    """Entry point for Pulumi: read the desired node set from stack config and declare it."""
    raw = pulumi.Config(CONFIG_NAMESPACE).get_object(CONFIG_KEY)
    if raw is None:
        raise ValueError(
            f"stack config {CONFIG_NAMESPACE}:{CONFIG_KEY} is not set: "
            "apply a desired node set with `provisioner fleet apply` first"
        )
    declare(parse(raw))


def declare(desired: DesiredNodeSet) -> dict[str, aws.ec2.Fleet]:
    plan = plan_fleet(desired)
    templates = {t.key: _launch_template(t) for t in plan.templates}
    fleets = {spec.node.name: _fleet(spec, templates[spec.template.key]) for spec in plan.nodes}
    pulumi.export("nodes", {
        name: {"fleetId": f.id, "instances": f.fleet_instance_sets} for name, f in fleets.items()
    })
    pulumi.export("launchTemplates", {t.key: t.name for t in plan.templates})
    return fleets


def _launch_template(t: LaunchTemplateSpec) -> aws.ec2.LaunchTemplate:
    ec2 = aws.ec2
    return ec2.LaunchTemplate(
        t.logical_name,
        name=t.name,
        image_id=t.image_id,
        user_data=base64.b64encode(t.user_data.encode()).decode(),
        iam_instance_profile=ec2.LaunchTemplateIamInstanceProfileArgs(name=t.instance_profile)
        if t.instance_profile else None,
        network_interfaces=[ec2.LaunchTemplateNetworkInterfaceArgs(
            device_index=0,
            associate_public_ip_address=str(t.associate_public_ip_address).lower(),
            security_groups=list(t.security_group_ids),
            delete_on_termination="true",
        )],
        block_device_mappings=[
            ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=b.device_name,
                ebs=ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=b.volume_size_gib, volume_type=b.volume_type, encrypted=str(b.encrypted).lower(),
                    delete_on_termination=str(b.delete_on_termination).lower(), iops=b.iops,
                    throughput=b.throughput, kms_key_id=b.kms_key_id,
                ),
            )
            for b in t.block_devices
        ],
        metadata_options=ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint=t.metadata_options.http_endpoint,
            http_tokens=t.metadata_options.http_tokens,
            http_put_response_hop_limit=t.metadata_options.http_put_response_hop_limit,
        ),
        tag_specifications=[
            ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=t.tags) for kind in ("instance", "volume")
        ],
        tags=t.tags,
        update_default_version=True,
    )


def _fleet(spec: NodeSpec, template: aws.ec2.LaunchTemplate) -> aws.ec2.Fleet:
    ec2 = aws.ec2
    node = spec.node
    return ec2.Fleet(
        spec.logical_name,
        type="instant",
        launch_template_configs=[ec2.FleetLaunchTemplateConfigArgs(
            launch_template_specification=ec2.FleetLaunchTemplateConfigLaunchTemplateSpecificationArgs(
                launch_template_id=template.id,
                version=template.latest_version.apply(str),
            ),
            overrides=[
                ec2.FleetLaunchTemplateConfigOverrideArgs(
                    instance_type=o.instance_type, subnet_id=o.subnet_id, availability_zone=o.zone,
                    priority=o.priority,
                )
                for o in spec.overrides
            ],
        )],
        target_capacity_specification=ec2.FleetTargetCapacitySpecificationArgs(
            default_target_capacity_type=node.capacity_type,
            total_target_capacity=1,
        ),
        spot_options=ec2.FleetSpotOptionsArgs(allocation_strategy=SPOT_STRATEGY)
        if node.capacity_type == "spot" else None,
        on_demand_options=ec2.FleetOnDemandOptionsArgs(allocation_strategy=ON_DEMAND_STRATEGY)
        if node.capacity_type == "on-demand" else None,
        terminate_instances=True,
        tags=spec.tags,
        # A replaced node is a new instance: launch the new one before the old one goes.
        opts=pulumi.ResourceOptions(delete_before_replace=False),
    )


