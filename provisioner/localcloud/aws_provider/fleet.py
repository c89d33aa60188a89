"""`aws:ec2/fleet:Fleet` for the stand-in provider.

Create is CreateFleet; an instant fleet that launched nothing fails the Create with every
override's error and leaves nothing behind. Tags update in place; any other change replaces.
Delete terminates the instances and waits until they are shutting down. Read reports the fleet
gone (empty id) once the fleet is deleted or all its instances are, so `refresh` drops it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from provisioner.localcloud.aws_provider.schema import F, Bool, ListOf, Num, Obj, Str, Tags, to_aws, validate_props
from provisioner.localcloud.aws_provider.shared import (
    DEFAULT_ACCOUNT_ID, CheckFailure, CheckResult, Clients, DiffResult, ProviderConfig, ProviderError, ReadResult,
    aws_error_code, diff_props, poll, prune, tag_changes, tags_all,
)

TOKEN = "aws:ec2/fleet:Fleet"
DELETE_TIMEOUT = 120.0
GONE_STATES = ("shutting-down", "terminated")

# pulumi-aws (like Terraform) spells the default "lowestPrice"; EC2 takes "lowest-price".
ON_DEMAND_STRATEGIES = ("lowestPrice", "lowest-price", "prioritized")
SPOT_STRATEGIES = ("lowestPrice", "lowest-price", "diversified", "capacity-optimized",
                   "capacity-optimized-prioritized", "price-capacity-optimized")


class _Strategy(Str):
    def to_aws(self, value: Any) -> Any:
        return "lowest-price" if value == "lowestPrice" else value


FIELDS: dict[str, F] = {
    "type": F("Type", Str(enum=("instant", "maintain", "request"))),
    "launchTemplateConfigs": F("LaunchTemplateConfigs", ListOf(Obj({
        "launchTemplateSpecification": F("LaunchTemplateSpecification", Obj({
            "launchTemplateId": F("LaunchTemplateId", Str()),
            "launchTemplateName": F("LaunchTemplateName", Str()),
            "version": F("Version", Str(), required=True),
        }), required=True),
        "overrides": F("Overrides", ListOf(Obj({
            "instanceType": F("InstanceType", Str()),
            "subnetId": F("SubnetId", Str()),
            "availabilityZone": F("AvailabilityZone", Str()),
            "priority": F("Priority", Num(integer=False, minimum=0)),
            "maxPrice": F("MaxPrice", Str()),
            "weightedCapacity": F("WeightedCapacity", Num(integer=False, minimum=0)),
        }), max_items=300)),
    }), max_items=50), required=True),
    "targetCapacitySpecification": F("TargetCapacitySpecification", Obj({
        "defaultTargetCapacityType": F("DefaultTargetCapacityType", Str(enum=("on-demand", "spot")), required=True),
        "totalTargetCapacity": F("TotalTargetCapacity", Num(minimum=0), required=True),
        "onDemandTargetCapacity": F("OnDemandTargetCapacity", Num(minimum=0)),
        "spotTargetCapacity": F("SpotTargetCapacity", Num(minimum=0)),
        "targetCapacityUnitType": F("TargetCapacityUnitType", Str(enum=("vcpu", "memory-mib", "units"))),
    }), required=True),
    "onDemandOptions": F("OnDemandOptions", Obj({
        "allocationStrategy": F("AllocationStrategy", _Strategy(enum=ON_DEMAND_STRATEGIES)),
        "minTargetCapacity": F("MinTargetCapacity", Num(minimum=0)),
        "singleAvailabilityZone": F("SingleAvailabilityZone", Bool()),
        "singleInstanceType": F("SingleInstanceType", Bool()),
    })),
    "spotOptions": F("SpotOptions", Obj({
        "allocationStrategy": F("AllocationStrategy", _Strategy(enum=SPOT_STRATEGIES)),
        "instanceInterruptionBehavior": F("InstanceInterruptionBehavior", Str(enum=("hibernate", "stop", "terminate"))),
        "instancePoolsToUseCount": F("InstancePoolsToUseCount", Num(minimum=1)),
        "minTargetCapacity": F("MinTargetCapacity", Num(minimum=0)),
        "singleAvailabilityZone": F("SingleAvailabilityZone", Bool()),
        "singleInstanceType": F("SingleInstanceType", Bool()),
    })),
    "terminateInstancesWithExpiration": F("TerminateInstancesWithExpiration", Bool()),
    "excessCapacityTerminationPolicy": F("ExcessCapacityTerminationPolicy", Str(enum=("no-termination", "termination"))),
    "replaceUnhealthyInstances": F("ReplaceUnhealthyInstances", Bool()),
}
OWN_FIELDS: dict[str, F] = {
    "terminateInstances": F("", Bool()),
    "tags": F("", Tags()),
    "region": F("", Str()),
}
ALL_FIELDS = {**FIELDS, **OWN_FIELDS}
COMPUTED = ("id", "arn", "fleetInstanceSets", "fleetState", "fulfilledCapacity", "fulfilledOnDemandCapacity", "tagsAll")
DEFAULTS = {
    "type": "maintain",
    "terminateInstances": False,
    "terminateInstancesWithExpiration": False,
    "replaceUnhealthyInstances": False,
    "excessCapacityTerminationPolicy": "termination",
}
UPDATABLE = {"tags"}


def check(olds: dict[str, Any], news: dict[str, Any], logical_name: str = "", seed: bytes = b"") -> CheckResult:
    inputs = {**DEFAULTS, **prune(news)}
    for key in ("onDemandOptions", "spotOptions"):
        options = inputs.get(key)
        if isinstance(options, dict) and options.get("allocationStrategy") is None:
            inputs[key] = {**options, "allocationStrategy": "lowestPrice"}
    failures: list[CheckFailure] = []
    validate_props(inputs, ALL_FIELDS, failures, extra=COMPUTED)
    for i, config in enumerate(inputs.get("launchTemplateConfigs") or []):
        spec = config.get("launchTemplateSpecification") if isinstance(config, dict) else None
        if isinstance(spec, dict) and not spec.get("launchTemplateId") and not spec.get("launchTemplateName"):
            path = f"launchTemplateConfigs[{i}].launchTemplateSpecification"
            failures.append(CheckFailure(path, f"{path}: one of launchTemplateId or launchTemplateName is required"))
    if inputs.get("type") == "instant" and inputs.get("replaceUnhealthyInstances") is True:
        failures.append(CheckFailure("replaceUnhealthyInstances", "replaceUnhealthyInstances: not valid for an instant fleet"))
    return CheckResult(inputs, failures)


def diff(olds: dict[str, Any], news: dict[str, Any], ignore: set[str]) -> DiffResult:
    keys = (set(olds) | set(news)) & set(ALL_FIELDS)
    return diff_props(olds, news, keys, set(ALL_FIELDS) - UPDATABLE, ignore)


def _instance_sets(instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "instanceIds": list(item.get("InstanceIds", [])),
            "instanceType": item.get("InstanceType", ""),
            "lifecycle": item.get("Lifecycle", ""),
            "platform": item.get("Platform", ""),
        }
        for item in instances
    ]


def _describe(item: dict[str, Any]) -> str:
    overrides = item.get("LaunchTemplateAndOverrides", {}).get("Overrides", {})
    where = overrides.get("AvailabilityZone") or overrides.get("SubnetId") or "?"
    return (f"{item.get('ErrorCode', 'Error')} for {overrides.get('InstanceType', '?')} in {where} "
            f"({item.get('Lifecycle', '?')})")


def _zone_names(ec2: Any, errors: list[dict[str, Any]]) -> None:
    """AWS error entries name the subnet; say which zone it is, as the message promises."""
    subnets = {e["LaunchTemplateAndOverrides"].get("Overrides", {}).get("SubnetId") for e in errors
               if e.get("LaunchTemplateAndOverrides")}
    subnets.discard(None)
    if not subnets:
        return
    try:
        zones = {s["SubnetId"]: s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=sorted(subnets))["Subnets"]}
    except ClientError:
        return
    for error in errors:
        overrides = error.get("LaunchTemplateAndOverrides", {}).get("Overrides", {})
        if overrides.get("SubnetId") in zones and not overrides.get("AvailabilityZone"):
            overrides["AvailabilityZone"] = zones[overrides["SubnetId"]]


def _arn(config: ProviderConfig, inputs: dict[str, Any], fleet_id: str) -> str:
    return f"arn:aws:ec2:{inputs.get('region') or config.region}:{DEFAULT_ACCOUNT_ID}:fleet/{fleet_id}"


def create(clients: Clients, config: ProviderConfig, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ec2 = clients.ec2(config, inputs.get("region"))
    params = to_aws(inputs, FIELDS)
    tags = tags_all(config, inputs.get("tags"))
    if tags:
        params["TagSpecifications"] = [{"ResourceType": "fleet", "Tags": Tags().to_aws(tags)}]
    try:
        response = ec2.create_fleet(**params)
    except ClientError as err:
        raise ProviderError(f"creating EC2 Fleet: {err}") from err
    fleet_id = response["FleetId"]
    instances = response.get("Instances") or []
    launched = [i for item in instances for i in item.get("InstanceIds", [])]
    if inputs.get("type") == "instant" and not launched:
        errors = response.get("Errors") or []
        _zone_names(ec2, errors)
        _delete_fleet(ec2, fleet_id, terminate=True)
        detail = "; ".join(_describe(e) for e in errors) or "no instances launched"
        raise ProviderError(f"creating EC2 Fleet: no capacity: {detail}")
    state = ec2.describe_fleets(FleetIds=[fleet_id])["Fleets"][0]
    return fleet_id, _outputs(config, inputs, fleet_id, state, _instance_sets(instances))


def _outputs(config: ProviderConfig, inputs: dict[str, Any], fleet_id: str, state: dict[str, Any],
             instance_sets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        **inputs,
        "id": fleet_id,
        "arn": _arn(config, inputs, fleet_id),
        "fleetInstanceSets": instance_sets,
        "fleetState": state.get("FleetState", "active"),
        "fulfilledCapacity": float(state.get("FulfilledCapacity", 0.0)),
        "fulfilledOnDemandCapacity": float(state.get("FulfilledOnDemandCapacity", 0.0)),
        "tagsAll": tags_all(config, inputs.get("tags")),
    }


def _instance_ids(props: dict[str, Any]) -> list[str]:
    return [i for s in props.get("fleetInstanceSets") or [] for i in s.get("instanceIds") or []]


def _live_instances(ec2: Any, instance_ids: list[str]) -> list[str]:
    """The ids among `instance_ids` that exist and are not shutting down or terminated."""
    live: list[str] = []
    for start in range(0, len(instance_ids), 500):
        chunk = instance_ids[start:start + 500]
        try:
            reservations = ec2.describe_instances(InstanceIds=chunk)["Reservations"]
        except ClientError as err:
            if aws_error_code(err) != "InvalidInstanceID.NotFound":
                raise
            # Some are gone for good (AWS forgets terminated instances): ask one by one.
            live += [i for i in chunk if _live_instances_single(ec2, i)]
            continue
        live += [i["InstanceId"] for r in reservations for i in r["Instances"] if i["State"]["Name"] not in GONE_STATES]
    return live


def _live_instances_single(ec2: Any, instance_id: str) -> bool:
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError:
        return False
    return any(i["State"]["Name"] not in GONE_STATES for r in reservations for i in r["Instances"])


def read(clients: Clients, config: ProviderConfig, id_: str, props: dict[str, Any],
         inputs: dict[str, Any]) -> ReadResult:
    ec2 = clients.ec2(config, props.get("region") or inputs.get("region"))
    try:
        fleets = ec2.describe_fleets(FleetIds=[id_])["Fleets"]
    except ClientError as err:
        if aws_error_code(err).startswith("InvalidFleetId"):
            return ReadResult("", {}, {})
        raise ProviderError(f"reading EC2 Fleet ({id_}): {err}") from err
    if not fleets or str(fleets[0].get("FleetState", "")).startswith("deleted"):
        return ReadResult("", {}, {})
    fleet = fleets[0]
    instance_ids = _instance_ids(props)
    if props.get("type", "instant") == "instant" and (not instance_ids or not _live_instances(ec2, instance_ids)):
        return ReadResult("", {}, {})
    base = dict(inputs or {k: v for k, v in props.items() if k in ALL_FIELDS})
    tags = {t["Key"]: t["Value"] for t in fleet.get("Tags", [])}
    managed = {k: v for k, v in tags.items() if config.default_tags.get(k) != v}
    if managed or base.get("tags") is not None:
        base["tags"] = managed
    outputs = _outputs(config, base, id_, fleet, props.get("fleetInstanceSets") or [])
    outputs["tagsAll"] = tags
    return ReadResult(id_, outputs, base)


def update(clients: Clients, config: ProviderConfig, id_: str, olds: dict[str, Any],
           news: dict[str, Any]) -> dict[str, Any]:
    ec2 = clients.ec2(config, news.get("region"))
    upserts, removed = tag_changes(olds.get("tagsAll") or {}, tags_all(config, news.get("tags")))
    try:
        if removed:
            ec2.delete_tags(Resources=[id_], Tags=[{"Key": k} for k in removed])
        if upserts:
            ec2.create_tags(Resources=[id_], Tags=Tags().to_aws(upserts))
    except ClientError as err:
        raise ProviderError(f"updating EC2 Fleet ({id_}) tags: {err}") from err
    state = {k: olds.get(v) for k, v in (("FleetState", "fleetState"), ("FulfilledCapacity", "fulfilledCapacity"),
                                         ("FulfilledOnDemandCapacity", "fulfilledOnDemandCapacity"))}
    return _outputs(config, news, id_, {k: v for k, v in state.items() if v is not None},
                    olds.get("fleetInstanceSets") or [])


def _delete_fleet(ec2: Any, fleet_id: str, terminate: bool) -> None:
    try:
        response = ec2.delete_fleets(FleetIds=[fleet_id], TerminateInstances=terminate)
    except ClientError as err:
        if aws_error_code(err).startswith("InvalidFleetId"):
            return
        raise ProviderError(f"deleting EC2 Fleet ({fleet_id}): {err}") from err
    for failure in response.get("UnsuccessfulFleetDeletions") or []:
        code = failure.get("Error", {}).get("Code", "")
        if not code.startswith("InvalidFleetId"):
            raise ProviderError(f"deleting EC2 Fleet ({fleet_id}): {code}: {failure.get('Error', {}).get('Message', '')}")


def delete(clients: Clients, config: ProviderConfig, id_: str, props: dict[str, Any],
           timeout: float = DELETE_TIMEOUT) -> None:
    ec2 = clients.ec2(config, props.get("region"))
    # EC2 requires terminating the instances of an instant fleet when deleting it.
    terminate = props.get("type") == "instant" or bool(props.get("terminateInstances"))
    try:
        known = {f["FleetId"] for f in ec2.describe_fleets(FleetIds=[id_])["Fleets"]}
    except ClientError as err:
        if not aws_error_code(err).startswith("InvalidFleetId"):
            raise ProviderError(f"deleting EC2 Fleet ({id_}): {err}") from err
        known = set()
    if id_ in known:
        _delete_fleet(ec2, id_, terminate)
    if not terminate:
        return
    instance_ids = _instance_ids(props)
    live = _live_instances(ec2, instance_ids) if instance_ids else []
    if live:
        # Covers a fleet record that is already gone while its instances still run.
        ec2.terminate_instances(InstanceIds=live)
        poll(f"instances of EC2 Fleet {id_} to terminate", lambda: not _live_instances(ec2, live), timeout)

