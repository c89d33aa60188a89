"""fleet-guard policies. Each validate function is importable so unit tests can call it directly.

Guardrail values arrive through the policy config (written from stacks/guardrails/<stack>.yaml
by provisioner's stack operations); every message names the policy's subject (node or
launch template) and the offending value.
"""

from __future__ import annotations

from typing import Any, Callable

from pulumi_policy import (
    ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy,
)

from provisioner.fleet.guardrails import Guardrails, from_dict, vcpus

FLEET = "aws:ec2/fleet:Fleet"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_NAME_TAG = "provisioner.sh/node-name"


def guardrails(args: Any) -> Guardrails:
    config = dict(args.get_config() or {})
    config.pop("enforcementLevel", None)
    return from_dict(config)


def subject(props: dict, name: str) -> str:
    tags = props.get("tags") or {}
    if NODE_NAME_TAG in tags:
        return f'node "{tags[NODE_NAME_TAG]}"'
    return f'launch template "{props.get("name") or name}"'


def fleet_instance_types(props: dict) -> list[str]:
    return [o.get("instanceType") for cfg in props.get("launchTemplateConfigs") or []
            for o in cfg.get("overrides") or [] if o.get("instanceType")]


# ---- resource policies ----------------------------------------------------------------------------

def check_instance_types(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != FLEET:
        return
    g = guardrails(args)
    for itype in fleet_instance_types(args.props):
        problem = g.instance_type_problem(itype)
        if problem:
            report(f"{subject(args.props, args.name)}: instance type {itype} is not allowed: {problem}")


def check_imdsv2(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    g = guardrails(args)
    meta = args.props.get("metadataOptions") or {}
    who = subject(args.props, args.name)
    if meta.get("httpTokens") != "required":
        report(f"{who}: metadataOptions.httpTokens is {meta.get('httpTokens')!r}; IMDSv2 requires 'required'")
    hops = meta.get("httpPutResponseHopLimit")
    if hops is None or int(hops) > g.max_hop_limit:
        report(f"{who}: metadataOptions.httpPutResponseHopLimit is {hops}; the limit is {g.max_hop_limit}")


def check_encrypted_volumes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    mappings = args.props.get("blockDeviceMappings") or []
    if not mappings:
        report(f"{subject(args.props, args.name)}: no block device mappings; the root volume must be declared encrypted")
    for m in mappings:
        ebs = m.get("ebs") or {}
        if str(ebs.get("encrypted")).lower() != "true":
            report(f"{subject(args.props, args.name)}: volume {m.get('deviceName')} is not encrypted "
                   f"(encrypted={ebs.get('encrypted')!r})")


def check_public_ip(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LAUNCH_TEMPLATE or guardrails(args).allow_public_ip:
        return
    interfaces = args.props.get("networkInterfaces") or []
    if not interfaces:
        report(f"{subject(args.props, args.name)}: no network interface declares associatePublicIpAddress=false; "
               "the subnet default could assign a public IP")
    for ni in interfaces:
        if str(ni.get("associatePublicIpAddress")).lower() != "false":
            report(f"{subject(args.props, args.name)}: network interface {ni.get('deviceIndex', 0)} has "
                   f"associatePublicIpAddress={ni.get('associatePublicIpAddress')!r}; public IPs are not allowed")


def check_ownership_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (FLEET, LAUNCH_TEMPLATE):
        return
    required = guardrails(args).required_tags
    who = subject(args.props, args.name)
    _missing(required, args.props.get("tags") or {}, f"{who}: tags", report)
    if args.resource_type == LAUNCH_TEMPLATE:
        specs = {s.get("resourceType"): s.get("tags") or {} for s in args.props.get("tagSpecifications") or []}
        for kind in ("instance", "volume"):
            _missing(required, specs.get(kind, {}), f"{who}: tagSpecifications[{kind}]", report)


def _missing(required: tuple[str, ...], tags: dict, where: str, report: ReportViolation) -> None:
    missing = [k for k in required if not tags.get(k)]
    if missing:
        report(f"{where} lack required ownership tag(s) {', '.join(missing)}")


# ---- stack policies --------------------------------------------------------------------------------

def check_max_nodes(args: StackValidationArgs, report: ReportViolation) -> None:
    g = guardrails(args)
    nodes = [r for r in args.resources if r.resource_type == FLEET]
    if g.max_nodes is not None and len(nodes) > g.max_nodes:
        report(f"the fleet would have {len(nodes)} nodes; maxNodes is {g.max_nodes}")


def check_max_vcpu(args: StackValidationArgs, report: ReportViolation) -> None:
    g = guardrails(args)
    if g.max_vcpu is None:
        return
    # A node may land on any of its candidates: count the largest.
    total = sum(max((vcpus(t) for t in fleet_instance_types(r.props)), default=0)
                for r in args.resources if r.resource_type == FLEET)
    if total > g.max_vcpu:
        report(f"the fleet could reach {total} vCPUs (largest candidate per node); maxVcpu is {g.max_vcpu}")


def _schema() -> dict:
    return {"properties": {
        "allowedFamilies": {"type": "array", "items": {"type": "string"}},
        "deniedFamilies": {"type": "array", "items": {"type": "string"}},
        "allowedCategories": {"type": "array", "items": {"type": "string"}},
        "deniedCategories": {"type": "array", "items": {"type": "string"}},
        "maxNodes": {"type": "integer"},
        "maxVcpu": {"type": "integer"},
        "maxHopLimit": {"type": "integer"},
        "allowPublicIp": {"type": "boolean"},
        "requiredTags": {"type": "array", "items": {"type": "string"}},
    }}


def _resource(name: str, description: str, fn: Callable) -> ResourceValidationPolicy:
    from pulumi_policy import PolicyConfigSchema

    return ResourceValidationPolicy(name=name, description=description, validate=fn,
                                    config_schema=PolicyConfigSchema(**_schema()))


def _stack(name: str, description: str, fn: Callable) -> StackValidationPolicy:
    from pulumi_policy import PolicyConfigSchema

    return StackValidationPolicy(name=name, description=description, validate=fn,
                                 config_schema=PolicyConfigSchema(**_schema()))


POLICIES = [
    _resource("allowed-instance-types", "Nodes use only allowed instance families and categories.",
              check_instance_types),
    _stack("max-nodes", "The fleet stays within the maximum node count.", check_max_nodes),
    _stack("max-vcpu", "The fleet stays within the maximum total vCPU.", check_max_vcpu),
    _resource("imdsv2-required", "Launch templates require IMDSv2 with a bounded hop limit.", check_imdsv2),
    _resource("encrypted-volumes", "Every EBS volume is encrypted.", check_encrypted_volumes),
    _resource("no-public-ip", "Nodes get no public IP unless allowed.", check_public_ip),
    _resource("ownership-tags", "Templates, nodes, instances and volumes carry the ownership tags.",
              check_ownership_tags),
]
