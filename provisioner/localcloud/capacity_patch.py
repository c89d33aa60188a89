"""Patches applied to moto's EC2 backend inside the local EC2 child process.

moto never raises capacity errors and its instant create_fleet puts all capacity on the first
override, drops launch-template volumes/security groups for on-demand instances and ignores
launch-template volume tags. Here instant fleets are allocated like AWS does it for a
prioritized strategy: overrides are walked in priority order, each injected-unavailable (or
otherwise failing) override becomes an entry of the response's `Errors[]`, and the remaining
capacity moves on to the next override. Instances are launched through run_instances with the
launch template, so they carry its user data, security groups, volumes and tags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.fleets import Fleet
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.models.launch_templates import LaunchTemplate
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.fleets import Fleets
from moto.ec2.utils import convert_tag_spec, parse_user_data, random_fleet_id

from provisioner.localcloud.capacity import CapacityRegistry, priority_order

FLEET_ID_TAG = "aws:ec2:fleet-id"
_unchecked_run_instances: Any = InstanceBackend.run_instances


class InjectedCapacityError(EC2ClientError):
    """Raised as EC2ClientError(code, message); serialized by moto like any EC2 error."""


@dataclass
class _Pool:
    """One override of one launch template config, resolved."""

    template: Any  # moto LaunchTemplate
    version: Any  # moto LaunchTemplateVersion
    spec: dict[str, Any]  # LaunchTemplateSpecification as AWS echoes it
    override: dict[str, Any]
    instance_type: str
    subnet_id: str | None
    zone: str
    weight: float

    def described(self) -> dict[str, Any]:
        result: dict[str, Any] = {"LaunchTemplateSpecification": self.spec}
        if self.override:
            result["Overrides"] = self.override
        return result


@dataclass
class _Allocation:
    instances: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _as_float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _resolve_pools(backend: Any, configs: list[dict[str, Any]]) -> list[_Pool]:
    pools: list[_Pool] = []
    flat_overrides: list[dict[str, Any]] = []
    owners: list[tuple[Any, Any, dict[str, Any]]] = []
    for config in configs:
        spec_in = config.get("LaunchTemplateSpecification", {})
        if "LaunchTemplateId" in spec_in:
            template = backend.get_launch_template(spec_in["LaunchTemplateId"])
        else:
            template = backend.get_launch_template_by_name(spec_in.get("LaunchTemplateName"))
        version = template.get_version(spec_in.get("Version", "$Default"))
        spec = {"LaunchTemplateId": template.id, "Version": str(version.number)}
        for override in config.get("Overrides") or [{}]:
            flat_overrides.append(override)
            owners.append((template, version, spec))
    for index in priority_order(flat_overrides):
        override = flat_overrides[index]
        template, version, spec = owners[index]
        data = version.data
        subnet_id = override.get("SubnetId") or _template_subnet(data)
        zone = override.get("AvailabilityZone")
        if subnet_id and not zone:
            zone = backend.get_subnet(subnet_id).availability_zone
        if zone and not subnet_id:
            subnet_id = _default_subnet(backend, zone)
        pools.append(
            _Pool(
                template=template,
                version=version,
                spec=spec,
                override=dict(override),
                instance_type=override.get("InstanceType") or data.get("InstanceType") or "m1.small",
                subnet_id=subnet_id,
                zone=zone or backend.region_name + "a",
                weight=_as_float(override.get("WeightedCapacity"), 1.0) or 1.0,
            )
        )
    return pools


def _template_subnet(data: dict[str, Any]) -> str | None:
    for nic in data.get("NetworkInterfaces") or []:
        if nic.get("SubnetId"):
            return nic["SubnetId"]
    return None


def _default_subnet(backend: Any, zone: str) -> str | None:
    for subnet in backend.describe_subnets(filters={"availability-zone": [zone]}):
        if str(subnet.default_for_az).lower() == "true":
            return subnet.id
    return None


def _template_security_groups(data: dict[str, Any]) -> list[str]:
    groups = list(data.get("SecurityGroupIds") or [])
    for nic in data.get("NetworkInterfaces") or []:
        groups.extend(g for g in nic.get("Groups") or [] if g not in groups)
    return groups


def _launch(backend: Any, fleet_id: str, pool: _Pool, count: int, lifecycle: str,
            fleet_instance_tags: dict[str, str]) -> list[Any]:
    data = pool.version.data
    tags = convert_tag_spec(data.get("TagSpecifications") or [])
    tags["instance"] = {**tags.get("instance", {}), **fleet_instance_tags, FLEET_ID_TAG: fleet_id}
    tags["volume"] = {**tags.get("volume", {})}
    user_data = data.get("UserData")
    kwargs: dict[str, Any] = {
        "instance_type": pool.instance_type,
        "is_instance_type_default": False,
        "region_name": backend.region_name,
        "subnet_id": pool.subnet_id,
        "placement": None if pool.subnet_id else pool.zone,
        "security_group_ids": _template_security_groups(data),
        "tags": tags,
        "launch_template": {"LaunchTemplateId": pool.template.id, "Version": str(pool.version.number)},
        "metadata_options": data.get("MetadataOptions") or {},
        "monitoring_state": "enabled" if (data.get("Monitoring") or {}).get("Enabled") in (True, "true") else "disabled",
        "fleet_id": fleet_id,
        "client_token": None,
    }
    if lifecycle == "spot":
        kwargs["instance_market_options"] = {"MarketType": "spot"}
    if data.get("BlockDeviceMappings"):
        kwargs["block_device_mappings"] = data["BlockDeviceMappings"]
    reservation = _unchecked_run_instances(
        backend, data.get("ImageId"), count,
        parse_user_data(user_data) if isinstance(user_data, str) else user_data, [], **kwargs,
    )
    return reservation.instances


def _allocate(backend: Any, registry: CapacityRegistry, fleet: Fleet, pools: list[_Pool],
              lifecycle: str, units: float, fleet_instance_tags: dict[str, str], result: _Allocation) -> None:
    remaining = units
    for pool in pools:
        if remaining <= 0:
            return
        injected = registry.lookup(pool.instance_type, pool.zone, lifecycle)
        if injected is not None:
            result.errors.append({
                "LaunchTemplateAndOverrides": pool.described(),
                "Lifecycle": lifecycle,
                "ErrorCode": injected.error_code,
                "ErrorMessage": injected.message(),
            })
            continue
        count = max(1, math.ceil(remaining / pool.weight))
        try:
            instances = _launch(backend, fleet.id, pool, count, lifecycle, fleet_instance_tags)
        except EC2ClientError as err:
            result.errors.append({
                "LaunchTemplateAndOverrides": pool.described(),
                "Lifecycle": lifecycle,
                "ErrorCode": err.code,
                "ErrorMessage": err.message,
            })
            continue
        for instance in instances:
            fleet.on_demand_instances.append({"id": instance.id, "instance": instance, "launch_spec": None})
        fleet.fulfilled_capacity += count * pool.weight
        if lifecycle == "spot":
            fleet.fulfilled_spot_capacity += count * pool.weight
        else:
            fleet.fulfilled_on_demand_capacity += count * pool.weight
        remaining -= count * pool.weight
        result.instances.append({
            "LaunchTemplateAndOverrides": pool.described(),
            "Lifecycle": lifecycle,
            "InstanceIds": [i.id for i in instances],
            "InstanceType": pool.instance_type,
            # AWS reports Platform only for Windows.
            **({"Platform": "Windows"} if instances[0].platform == "windows" else {}),
        })


def create_instant_fleet(backend: Any, registry: CapacityRegistry, params: dict[str, Any]) -> tuple[Fleet, _Allocation]:
    target = dict(params["target_capacity_specification"])
    total = _as_float(target.get("TotalTargetCapacity"), 0.0)
    on_demand = _as_float(target.get("OnDemandTargetCapacity"), 0.0)
    spot = _as_float(target.get("SpotTargetCapacity"), 0.0)
    default_type = target.get("DefaultTargetCapacityType") or "on-demand"
    rest = max(0.0, total - on_demand - spot)
    if default_type == "spot":
        spot += rest
    else:
        on_demand += rest

    pools = _resolve_pools(backend, params["launch_template_configs"])
    # moto's Fleet would launch on construction; build it with no capacity and allocate ourselves.
    empty_target = {"TotalTargetCapacity": 0, "DefaultTargetCapacityType": default_type}
    fleet = Fleet(
        backend, random_fleet_id(), params["on_demand_options"], params["spot_options"], empty_target,
        params["launch_template_configs"], params["excess_capacity_termination_policy"],
        params["replace_unhealthy_instances"], params["terminate_instances_with_expiration"], "instant",
        params["valid_from"], params["valid_until"], params["tag_specifications"],
    )
    fleet.target_capacity_specification = target
    fleet.target_capacity = int(total)
    fleet.spot_target_capacity = int(spot)
    fleet.on_demand_target_capacity = int(on_demand)
    fleet_instance_tags = convert_tag_spec(params["tag_specifications"] or []).get("instance", {})

    result = _Allocation()
    if on_demand > 0:
        _allocate(backend, registry, fleet, pools, "on-demand", on_demand, fleet_instance_tags, result)
    if spot > 0:
        _allocate(backend, registry, fleet, pools, "spot", spot, fleet_instance_tags, result)
    fleet.instant_instances = result.instances  # what DescribeFleets reports as Instances
    backend.fleets[fleet.id] = fleet
    return fleet, result


def _capacity_type_of_run(backend: Any, kwargs: dict[str, Any]) -> str:
    if kwargs.get("instance_market_options"):
        return "spot"
    if kwargs.get("launch_template"):
        data = backend._get_template_from_args(kwargs["launch_template"]).data
        if (data.get("InstanceMarketOptions") or {}).get("MarketType") == "spot":
            return "spot"
    return "on-demand"


def _zone_of_run(backend: Any, kwargs: dict[str, Any]) -> str:
    if kwargs.get("subnet_id"):
        return backend.get_subnet(kwargs["subnet_id"]).availability_zone
    for nic in kwargs.get("nics") or []:
        if nic.get("SubnetId"):
            return backend.get_subnet(nic["SubnetId"]).availability_zone
    return kwargs.get("placement") or backend.region_name + "a"


def install(registry: CapacityRegistry) -> None:
    """Patch moto's EC2 classes in this process (call once, before serving)."""
    global _unchecked_run_instances
    original_run_instances = InstanceBackend.run_instances
    # The instant-fleet path decides capacity per override itself, so it launches unchecked.
    _unchecked_run_instances = original_run_instances
    original_create_fleet_response = Fleets.create_fleet

    def run_instances(self: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str],
                      **kwargs: Any) -> Any:
        instance_type = kwargs.get("instance_type")
        if kwargs.get("is_instance_type_default") and kwargs.get("launch_template"):
            instance_type = self._get_template_from_args(kwargs["launch_template"]).data.get("InstanceType")
        error = registry.lookup(instance_type or "m1.small", _zone_of_run(self, kwargs),
                                _capacity_type_of_run(self, kwargs))
        if error is not None:
            raise InjectedCapacityError(error.error_code, error.message())
        return original_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)

    def create_fleet_response(self: Fleets) -> ActionResult:
        if self._get_param("Type", if_none="maintain") != "instant":
            return original_create_fleet_response(self)
        params = {
            "on_demand_options": self._get_param("OnDemandOptions", {}),
            "spot_options": self._get_param("SpotOptions", {}),
            "target_capacity_specification": self._get_param("TargetCapacitySpecification", {}),
            "launch_template_configs": self._get_param("LaunchTemplateConfigs", []),
            "excess_capacity_termination_policy": self._get_param("ExcessCapacityTerminationPolicy"),
            "replace_unhealthy_instances": self._get_param("ReplaceUnhealthyInstances"),
            "terminate_instances_with_expiration": self._get_param("TerminateInstancesWithExpiration", if_none=True),
            "valid_from": self._get_param("ValidFrom"),
            "valid_until": self._get_param("ValidUntil"),
            "tag_specifications": self._get_param("TagSpecifications", []),
        }
        self.error_on_dryrun()
        fleet, allocation = create_instant_fleet(self.ec2_backend, registry, params)
        return ActionResult({"FleetId": fleet.id, "Errors": allocation.errors, "Instances": allocation.instances})

    def terminate_fleet_instances(self: Fleet) -> None:
        # moto terminates one instance per capacity unit and fails on an empty list; AWS deleting
        # a fleet with TerminateInstances ends all its instances and accepts a fleet with none.
        if self.target_capacity > 0:
            return original_terminate_fleet_instances(self)
        live = [item["instance"] for item in self.on_demand_instances if item["instance"].state != "terminated"]
        live += [req.instance for req in self.spot_requests if req.instance.state != "terminated"]
        if live:
            self.ec2_backend.terminate_instances([i.id for i in live])

    def register_image_response(self: AmisResponse) -> ActionResult:
        # moto keeps only the name; the seed registers per-architecture AMIs, so keep the rest too.
        self.error_on_dryrun()
        image = self.ec2_backend.register_image(self._get_param("Name"), self._get_param("Description", ""))
        for attr, param in (("architecture", "Architecture"), ("root_device_name", "RootDeviceName"),
                            ("virtualization_type", "VirtualizationType")):
            if self._get_param(param):
                setattr(image, attr, self._get_param(param))
        return ActionResult({"ImageId": image.id})

    # moto snapshots a launch template's / fleet's tags at creation, so CreateTags/DeleteTags never
    # show in their Describe calls; read the live tags instead.
    for model in (LaunchTemplate, Fleet):
        model.tags = property(lambda self: self.get_tags(), lambda self, value: None)  # type: ignore[assignment]

    original_fleet_instances = Fleet.instances

    def fleet_instances(self: Fleet) -> Any:
        # moto would report every instance of the fleet as on-demand.
        if hasattr(self, "instant_instances"):
            return self.instant_instances
        return original_fleet_instances.fget(self)

    Fleet.instances = property(fleet_instances)  # type: ignore[assignment]
    AmisResponse.register_image = register_image_response  # type: ignore[method-assign]
    original_terminate_fleet_instances = Fleet.terminate_instances
    Fleet.terminate_instances = terminate_fleet_instances  # type: ignore[method-assign]
    InstanceBackend.run_instances = run_instances  # type: ignore[method-assign]
    Fleets.create_fleet = create_fleet_response  # type: ignore[method-assign]
