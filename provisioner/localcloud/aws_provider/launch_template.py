"""`aws:ec2/launchTemplate:LaunchTemplate` for the stand-in provider.

As in pulumi-aws: `name`/`namePrefix` force replacement; any other data change creates a new
template version (made the default when `updateDefaultVersion`); tag changes are tagged in place.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from provisioner.localcloud.aws_provider.schema import F, Bool, ListOf, Num, Obj, Str, Tags, from_aws, to_aws, validate_props
from provisioner.localcloud.aws_provider.shared import (
    DEFAULT_ACCOUNT_ID, CheckFailure, CheckResult, Clients, DiffResult, ProviderConfig, ProviderError, ReadResult,
    auto_name, aws_error_code, diff_props, is_unknown, prefixed_name, prune, tag_changes, tags_all,
)

TOKEN = "aws:ec2/launchTemplate:LaunchTemplate"

VOLUME_TYPES = ("standard", "io1", "io2", "gp2", "gp3", "sc1", "st1")
ENABLED = ("enabled", "disabled")
TAG_RESOURCE_TYPES = ("instance", "volume", "network-interface", "spot-instances-request", "elastic-gpu")
NAME_RE = re.compile(r"^[a-zA-Z0-9().\-/_]+$")

EBS = Obj({
    "volumeSize": F("VolumeSize", Num(minimum=1, maximum=65536)),
    "volumeType": F("VolumeType", Str(enum=VOLUME_TYPES)),
    "encrypted": F("Encrypted", Bool(as_string=True)),
    "deleteOnTermination": F("DeleteOnTermination", Bool(as_string=True)),
    "iops": F("Iops", Num(minimum=0)),
    "throughput": F("Throughput", Num(minimum=125, maximum=2000)),
    "kmsKeyId": F("KmsKeyId", Str()),
    "snapshotId": F("SnapshotId", Str()),
})

DATA_FIELDS: dict[str, F] = {
    "imageId": F("ImageId", Str()),
    "instanceType": F("InstanceType", Str()),
    "keyName": F("KeyName", Str()),
    "userData": F("UserData", Str(base64=True)),
    "vpcSecurityGroupIds": F("SecurityGroupIds", ListOf(Str())),
    "securityGroupNames": F("SecurityGroups", ListOf(Str())),
    "ebsOptimized": F("EbsOptimized", Bool(as_string=True)),
    "iamInstanceProfile": F("IamInstanceProfile", Obj({"name": F("Name", Str()), "arn": F("Arn", Str())})),
    "blockDeviceMappings": F("BlockDeviceMappings", ListOf(Obj({
        "deviceName": F("DeviceName", Str()),
        "noDevice": F("NoDevice", Str()),
        "virtualName": F("VirtualName", Str()),
        "ebs": F("Ebs", EBS),
    }))),
    "metadataOptions": F("MetadataOptions", Obj({
        "httpEndpoint": F("HttpEndpoint", Str(enum=ENABLED)),
        "httpTokens": F("HttpTokens", Str(enum=("optional", "required"))),
        "httpPutResponseHopLimit": F("HttpPutResponseHopLimit", Num(minimum=1, maximum=64)),
        "httpProtocolIpv6": F("HttpProtocolIpv6", Str(enum=ENABLED)),
        "instanceMetadataTags": F("InstanceMetadataTags", Str(enum=ENABLED)),
    })),
    "networkInterfaces": F("NetworkInterfaces", ListOf(Obj({
        "associatePublicIpAddress": F("AssociatePublicIpAddress", Bool(as_string=True)),
        "securityGroups": F("Groups", ListOf(Str())),
        "deviceIndex": F("DeviceIndex", Num(minimum=0)),
        "deleteOnTermination": F("DeleteOnTermination", Bool(as_string=True)),
        "subnetId": F("SubnetId", Str()),
        "description": F("Description", Str()),
    }))),
    "tagSpecifications": F("TagSpecifications", ListOf(Obj({
        "resourceType": F("ResourceType", Str(enum=TAG_RESOURCE_TYPES)),
        "tags": F("Tags", Tags()),
    }))),
    "monitoring": F("Monitoring", Obj({"enabled": F("Enabled", Bool())})),
    "instanceMarketOptions": F("InstanceMarketOptions", Obj({
        "marketType": F("MarketType", Str(enum=("spot", "capacity-block"))),
        "spotOptions": F("SpotOptions", Obj({
            "instanceInterruptionBehavior": F("InstanceInterruptionBehavior", Str(enum=("hibernate", "stop", "terminate"))),
            "maxPrice": F("MaxPrice", Str()),
            "spotInstanceType": F("SpotInstanceType", Str(enum=("one-time", "persistent"))),
        })),
    })),
}
OWN_FIELDS: dict[str, F] = {
    "name": F("LaunchTemplateName", Str(max_len=128)),
    "namePrefix": F("", Str(max_len=99)),
    "description": F("VersionDescription", Str(max_len=255)),
    "tags": F("", Tags()),
    "updateDefaultVersion": F("", Bool()),
    "region": F("", Str()),
}
ALL_FIELDS = {**DATA_FIELDS, **OWN_FIELDS}
COMPUTED = ("id", "arn", "latestVersion", "defaultVersion", "tagsAll")
REPLACE_ON = {"name", "namePrefix", "region"}


def _not_found(err: ClientError) -> bool:
    # AWS says InvalidLaunchTemplateId.NotFound or InvalidLaunchTemplateName.NotFoundException.
    code = aws_error_code(err)
    return code.startswith("InvalidLaunchTemplate") and "NotFound" in code


def check(olds: dict[str, Any], news: dict[str, Any], logical_name: str, seed: bytes) -> CheckResult:
    inputs = prune(news)
    failures: list[CheckFailure] = []
    validate_props(inputs, ALL_FIELDS, failures, extra=tuple(k for k in COMPUTED if k != "defaultVersion"))
    for key in ("name", "namePrefix"):
        value = inputs.get(key)
        if isinstance(value, str) and not is_unknown(value) and not NAME_RE.match(value):
            failures.append(CheckFailure(key, f"{key}: only alphanumerics and ()./-_ are allowed, got {value!r}"))
    if inputs.get("name") is not None and inputs.get("namePrefix") is not None:
        failures.append(CheckFailure("namePrefix", '"name": conflicts with namePrefix'))
    if inputs.get("name") is None:
        # Keep the name across updates, as pulumi-aws's auto-naming does.
        if olds.get("name") and olds.get("namePrefix") == inputs.get("namePrefix"):
            inputs["name"] = olds["name"]
        elif inputs.get("namePrefix") is not None:
            if not is_unknown(inputs["namePrefix"]):
                inputs["name"] = prefixed_name(inputs["namePrefix"])
        else:
            inputs["name"] = auto_name(logical_name, seed)
    return CheckResult(inputs, failures)


def diff(olds: dict[str, Any], news: dict[str, Any], ignore: set[str]) -> DiffResult:
    keys = (set(olds) | set(news)) & set(ALL_FIELDS)
    return diff_props(olds, news, keys, REPLACE_ON, ignore)


def _outputs(config: ProviderConfig, inputs: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    region = inputs.get("region") or config.region
    return {
        **inputs,
        "id": template["LaunchTemplateId"],
        "name": template["LaunchTemplateName"],
        "arn": f"arn:aws:ec2:{region}:{DEFAULT_ACCOUNT_ID}:launch-template/{template['LaunchTemplateId']}",
        "latestVersion": int(template["LatestVersionNumber"]),
        "defaultVersion": int(template["DefaultVersionNumber"]),
        "tagsAll": tags_all(config, inputs.get("tags")),
    }


def _template_tags(config: ProviderConfig, inputs: dict[str, Any]) -> list[dict[str, Any]]:
    tags = tags_all(config, inputs.get("tags"))
    return [{"ResourceType": "launch-template", "Tags": Tags().to_aws(tags)}] if tags else []


def create(clients: Clients, config: ProviderConfig, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ec2 = clients.ec2(config, inputs.get("region"))
    params: dict[str, Any] = {
        "LaunchTemplateName": inputs["name"],
        "LaunchTemplateData": to_aws(inputs, DATA_FIELDS),
        "TagSpecifications": _template_tags(config, inputs),
    }
    if inputs.get("description"):
        params["VersionDescription"] = inputs["description"]
    try:
        template = ec2.create_launch_template(**params)["LaunchTemplate"]
    except ClientError as err:
        raise ProviderError(f"creating EC2 Launch Template ({inputs['name']}): {err}") from err
    return template["LaunchTemplateId"], _outputs(config, inputs, template)


def read(clients: Clients, config: ProviderConfig, id_: str, props: dict[str, Any],
         inputs: dict[str, Any]) -> ReadResult:
    ec2 = clients.ec2(config, props.get("region") or inputs.get("region"))
    try:
        templates = ec2.describe_launch_templates(LaunchTemplateIds=[id_])["LaunchTemplates"]
    except ClientError as err:
        if _not_found(err):
            return ReadResult("", {}, {})
        raise ProviderError(f"reading EC2 Launch Template ({id_}): {err}") from err
    if not templates:
        return ReadResult("", {}, {})
    template = templates[0]
    version = ec2.describe_launch_template_versions(
        LaunchTemplateId=id_, Versions=[str(template["DefaultVersionNumber"])]
    )["LaunchTemplateVersions"][0]
    data = dict(version.get("LaunchTemplateData", {}))
    # moto folds the template's own tags into the version data; they are not instance/volume tags.
    data["TagSpecifications"] = [t for t in data.get("TagSpecifications") or []
                                 if t.get("ResourceType") in TAG_RESOURCE_TYPES]
    tags = {t["Key"]: t["Value"] for t in template.get("Tags", [])}
    managed = {k: v for k, v in tags.items() if k not in config.default_tags or config.default_tags[k] != v}
    base = inputs or props
    read_inputs = {
        **{k: v for k, v in base.items() if k in OWN_FIELDS},
        **prune(from_aws(data, DATA_FIELDS)),
        "name": template["LaunchTemplateName"],
    }
    if managed or base.get("tags") is not None:
        read_inputs["tags"] = managed
    outputs = _outputs(config, read_inputs, template)
    outputs["tagsAll"] = tags
    return ReadResult(id_, outputs, read_inputs)


def update(clients: Clients, config: ProviderConfig, id_: str, olds: dict[str, Any],
           news: dict[str, Any]) -> dict[str, Any]:
    ec2 = clients.ec2(config, news.get("region"))
    old_data, new_data = to_aws(olds, DATA_FIELDS), to_aws(news, DATA_FIELDS)
    try:
        if old_data != new_data or olds.get("description") != news.get("description"):
            params: dict[str, Any] = {"LaunchTemplateId": id_, "LaunchTemplateData": new_data}
            if news.get("description"):
                params["VersionDescription"] = news["description"]
            version = ec2.create_launch_template_version(**params)["LaunchTemplateVersion"]
            if news.get("updateDefaultVersion"):
                ec2.modify_launch_template(LaunchTemplateId=id_, DefaultVersion=str(version["VersionNumber"]))
        upserts, removed = tag_changes(olds.get("tagsAll") or {}, tags_all(config, news.get("tags")))
        if removed:
            ec2.delete_tags(Resources=[id_], Tags=[{"Key": k} for k in removed])
        if upserts:
            ec2.create_tags(Resources=[id_], Tags=Tags().to_aws(upserts))
        template = ec2.describe_launch_templates(LaunchTemplateIds=[id_])["LaunchTemplates"][0]
    except ClientError as err:
        raise ProviderError(f"updating EC2 Launch Template ({id_}): {err}") from err
    return _outputs(config, news, template)


def delete(clients: Clients, config: ProviderConfig, id_: str, props: dict[str, Any]) -> None:
    ec2 = clients.ec2(config, props.get("region"))
    try:
        ec2.delete_launch_template(LaunchTemplateId=id_)
    except ClientError as err:
        if _not_found(err):
            return
        raise ProviderError(f"deleting EC2 Launch Template ({id_}): {err}") from err


