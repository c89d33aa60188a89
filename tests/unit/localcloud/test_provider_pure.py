"""Stand-in provider pieces that need no EC2: config, values, Check, Diff, servicer plumbing."""

import json
import stat
import sys

import pytest
from pulumi.runtime.proto import provider_pb2 as pb

from provisioner.localcloud.aws_provider import PLUGIN_VERSION, install_plugin_shim
from provisioner.localcloud.aws_provider import fleet, launch_template
from provisioner.localcloud.aws_provider.server import AwsStandInProvider, CallLog
from provisioner.localcloud.aws_provider.shared import (
    SECRET_SIG, SECRET_SIG_KEY, UNKNOWN, ProviderConfig, ProviderError, from_struct, to_struct,
)

LT_URN = "urn:pulumi:dev::proj::aws:ec2/launchTemplate:LaunchTemplate::nodes"
FLEET_URN = "urn:pulumi:dev::proj::aws:ec2/fleet:Fleet::pool"


class Aborted(Exception):
    pass


class FakeContext:
    def abort(self, code, details):
        raise Aborted(details)


def fleet_inputs(**over):
    props = {
        "type": "instant",
        "launchTemplateConfigs": [{
            "launchTemplateSpecification": {"launchTemplateId": "lt-1", "version": "1"},
            "overrides": [{"instanceType": "m6i.large", "subnetId": "subnet-1", "priority": 1}],
        }],
        "targetCapacitySpecification": {"defaultTargetCapacityType": "spot", "totalTargetCapacity": 1},
    }
    props.update(over)
    return props


# ---- values and config -------------------------------------------------------------------------


def test_struct_round_trip_gives_ints_back_and_unwraps_secrets():
    struct = to_struct({"a": 1, "b": [2.5, {"c": 3}], "d": None,
                        "s": {SECRET_SIG_KEY: SECRET_SIG, "value": "hidden"}})
    assert from_struct(struct) == {"a": 1, "b": [2.5, {"c": 3}], "s": "hidden"}


def test_config_from_plain_args_with_json_endpoints():
    config = ProviderConfig.parse({}, {
        "region": "us-east-1", "endpoints": json.dumps([{"ec2": "http://127.0.0.1:9"}]),
        "accessKey": "k", "secretKey": "s", "skipCredentialsValidation": "true",
        "defaultTags": json.dumps({"tags": {"team": "x"}}),
    })
    assert config.region == "us-east-1"
    assert config.ec2_endpoint() == "http://127.0.0.1:9"
    assert (config.access_key, config.secret_key) == ("k", "s")
    assert config.skip_credentials_validation is True
    assert config.default_tags == {"team": "x"}


def test_config_from_namespaced_variables():
    config = ProviderConfig.parse({"aws:config:region": "eu-west-1",
                                   "aws:config:endpoints": '[{"ec2": "http://127.0.0.1:1"}]'}, {})
    assert config.region == "eu-west-1" and config.endpoints == {"ec2": "http://127.0.0.1:1"}


def test_no_endpoint_never_means_real_aws(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL_EC2", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with pytest.raises(ProviderError, match="endpoint"):
        ProviderConfig(region="us-east-1").ec2_endpoint()


# ---- LaunchTemplate Check/Diff -----------------------------------------------------------------


def test_launch_template_auto_name_is_stable_and_kept_across_updates():
    first = launch_template.check({}, {"imageId": "ami-1"}, "nodes", b"seed")
    again = launch_template.check({}, {"imageId": "ami-1"}, "nodes", b"seed")
    assert first.failures == []
    assert first.inputs["name"] == again.inputs["name"]
    assert first.inputs["name"].startswith("nodes-") and len(first.inputs["name"]) == len("nodes-") + 7
    kept = launch_template.check(first.inputs, {"imageId": "ami-2"}, "nodes", b"other")
    assert kept.inputs["name"] == first.inputs["name"]


def test_launch_template_name_prefix():
    result = launch_template.check({}, {"namePrefix": "pool-a-"}, "nodes", b"")
    assert result.inputs["name"].startswith("pool-a-") and len(result.inputs["name"]) == len("pool-a-") + 26


@pytest.mark.parametrize("props, path", [
    ({"name": "a", "namePrefix": "b"}, "namePrefix"),
    ({"name": "bad name!"}, "name"),
    ({"userData": "not base64!"}, "userData"),
    ({"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeType": "gp9"}}]},
     "blockDeviceMappings[0].ebs.volumeType"),
    ({"blockDeviceMappings": [{"ebs": {"volumeSize": "big"}}]}, "blockDeviceMappings[0].ebs.volumeSize"),
    ({"blockDeviceMappings": [{"ebs": {"encrypted": "yes"}}]}, "blockDeviceMappings[0].ebs.encrypted"),
    ({"metadataOptions": {"httpTokens": "sometimes"}}, "metadataOptions.httpTokens"),
    ({"metadataOptions": {"httpPutResponseHopLimit": 65}}, "metadataOptions.httpPutResponseHopLimit"),
    ({"tagSpecifications": [{"resourceType": "bucket", "tags": {}}]}, "tagSpecifications[0].resourceType"),
    ({"tags": {"aws:reserved": "x"}}, "tags.aws:reserved"),
    ({"cpuOptions": {"coreCount": 2}}, "cpuOptions"),
    ({"defaultVersion": 2}, "defaultVersion"),
])
def test_launch_template_check_failures(props, path):
    failures = launch_template.check({}, props, "nodes", b"").failures
    assert path in [f.property for f in failures], failures
    assert all(f.reason for f in failures)


def test_launch_template_check_skips_unknowns():
    result = launch_template.check({}, {"imageId": UNKNOWN, "vpcSecurityGroupIds": [UNKNOWN],
                                        "metadataOptions": {"httpTokens": UNKNOWN}}, "nodes", b"")
    assert result.failures == []


def test_launch_template_diff_replaces_only_on_name():
    old = {"name": "a", "imageId": "ami-1", "tags": {"x": "1"}}
    assert launch_template.diff(old, dict(old), set()).changed == []
    changed = launch_template.diff(old, {**old, "imageId": "ami-2", "tags": {"x": "2"}}, set())
    assert changed.changed == ["imageId", "tags"] and changed.replaces == []
    renamed = launch_template.diff(old, {**old, "name": "b"}, set())
    assert renamed.replaces == ["name"]
    unknown = launch_template.diff(old, {**old, "name": UNKNOWN}, set())
    assert unknown.replaces == ["name"]
    assert launch_template.diff(old, {**old, "imageId": "ami-2"}, {"imageId"}).changed == []


# ---- Fleet Check/Diff --------------------------------------------------------------------------


def test_fleet_check_applies_pulumi_aws_defaults():
    result = fleet.check({}, {**fleet_inputs(type=None), "spotOptions": {"instancePoolsToUseCount": 2}})
    assert result.failures == []
    assert result.inputs["type"] == "maintain"
    assert result.inputs["terminateInstances"] is False
    assert result.inputs["excessCapacityTerminationPolicy"] == "termination"
    assert result.inputs["spotOptions"] == {"allocationStrategy": "lowestPrice", "instancePoolsToUseCount": 2}


@pytest.mark.parametrize("props, path", [
    (fleet_inputs(type="sometimes"), "type"),
    (fleet_inputs(targetCapacitySpecification={"totalTargetCapacity": 1}),
     "targetCapacitySpecification.defaultTargetCapacityType"),
    (fleet_inputs(targetCapacitySpecification={"defaultTargetCapacityType": "reserved", "totalTargetCapacity": 1}),
     "targetCapacitySpecification.defaultTargetCapacityType"),
    (fleet_inputs(launchTemplateConfigs=None), "launchTemplateConfigs"),
    (fleet_inputs(launchTemplateConfigs=[{"launchTemplateSpecification": {"version": "1"}}]),
     "launchTemplateConfigs[0].launchTemplateSpecification"),
    (fleet_inputs(spotOptions={"allocationStrategy": "cheapest"}), "spotOptions.allocationStrategy"),
    (fleet_inputs(onDemandOptions={"allocationStrategy": "diversified"}), "onDemandOptions.allocationStrategy"),
    (fleet_inputs(replaceUnhealthyInstances=True), "replaceUnhealthyInstances"),
    (fleet_inputs(validUntil="2030-01-01T00:00:00Z"), "validUntil"),
])
def test_fleet_check_failures(props, path):
    failures = fleet.check({}, props).failures
    assert path in [f.property for f in failures], failures


def test_fleet_diff_tags_update_everything_else_replaces():
    old = fleet.check({}, fleet_inputs(tags={"a": "1"})).inputs
    tags = fleet.diff(old, {**old, "tags": {"a": "2"}}, set())
    assert tags.changed == ["tags"] and tags.replaces == []
    capacity = fleet.diff(old, {**old, "targetCapacitySpecification": {"defaultTargetCapacityType": "spot",
                                                                       "totalTargetCapacity": 2}}, set())
    assert capacity.replaces == ["targetCapacitySpecification"]
    lt_version = json.loads(json.dumps(old))
    lt_version["launchTemplateConfigs"][0]["launchTemplateSpecification"]["version"] = UNKNOWN
    assert fleet.diff(old, lt_version, set()).replaces == ["launchTemplateConfigs"]


# ---- servicer plumbing -------------------------------------------------------------------------


def test_plugin_info_and_configure():
    provider = AwsStandInProvider(log_path="")
    assert provider.GetPluginInfo(None, FakeContext()).version == PLUGIN_VERSION == "7.51.1"
    response = provider.Configure(pb.ConfigureRequest(args=to_struct({
        "region": "us-east-1", "endpoints": '[{"ec2":"http://127.0.0.1:5"}]'})), FakeContext())
    assert response.acceptSecrets is False and response.supportsPreview is False
    assert provider.config.ec2_endpoint() == "http://127.0.0.1:5"
    same = provider.DiffConfig(pb.DiffRequest(olds=to_struct({"region": "a"}), news=to_struct({"region": "a"})),
                               FakeContext())
    assert same.changes == pb.DiffResponse.DIFF_NONE


def test_servicer_check_returns_failures_and_defaults():
    provider = AwsStandInProvider(log_path="")
    response = provider.Check(pb.CheckRequest(urn=LT_URN, news=to_struct({"metadataOptions": {"httpTokens": "x"}}),
                                              randomSeed=b"s"), FakeContext())
    assert [f.property for f in response.failures] == ["metadataOptions.httpTokens"]
    assert from_struct(response.inputs)["name"].startswith("nodes-")


def test_servicer_diff_detailed_replace():
    provider = AwsStandInProvider(log_path="")
    old = fleet.check({}, fleet_inputs()).inputs
    new = {**old, "type": "maintain", "tags": {"a": "b"}}
    response = provider.Diff(pb.DiffRequest(urn=FLEET_URN, id="fleet-1", olds=to_struct({**old, "id": "fleet-1"}),
                                            old_inputs=to_struct(old), news=to_struct(new)), FakeContext())
    assert response.changes == pb.DiffResponse.DIFF_SOME
    assert list(response.replaces) == ["type"]
    assert response.detailedDiff["type"].kind == pb.PropertyDiff.UPDATE_REPLACE
    assert response.detailedDiff["tags"].kind == pb.PropertyDiff.ADD
    assert response.hasDetailedDiff


def test_unknown_resource_type_aborts_with_clear_error():
    provider = AwsStandInProvider(log_path="")
    with pytest.raises(Aborted, match="not served by the local stand-in"):
        provider.Check(pb.CheckRequest(urn="urn:pulumi:dev::p::aws:s3/bucket:Bucket::b"), FakeContext())


def test_call_log_keeps_running_totals(tmp_path):
    path = tmp_path / "provider.log"
    log = CallLog(str(path))
    log.record("Create", "aws:ec2/fleet:Fleet", "a", 0.5, None, 0.25, 2)
    log.record("Create", "aws:ec2/fleet:Fleet", "b", 0.25, "boom")
    log.write_summary()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(l["total_calls"], l["total_ms"]) for l in lines[:2]] == [(1, 500.0), (2, 750.0)]
    assert lines[1]["ok"] is False and lines[1]["error"] == "boom"
    assert (lines[0]["ec2_ms"], lines[0]["ec2_calls"], lines[1]["total_ec2_ms"]) == (250.0, 2, 250.0)
    assert lines[2]["summary"] == {"Create": {"calls": 2, "ms": 750.0, "ec2_ms": 250.0}}


def test_plugin_shim_execs_this_python(tmp_path):
    path = install_plugin_shim(tmp_path / "bin")
    assert path.name == "pulumi-resource-aws"
    assert path.stat().st_mode & stat.S_IXUSR
    text = path.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert f"exec {sys.executable} -u -m provisioner.localcloud.aws_provider" in text
    assert install_plugin_shim(tmp_path / "bin") == path  # rewriting is fine


def test_default_tags_change_is_an_in_place_update():
    provider = AwsStandInProvider(log_path="")
    provider.Configure(pb.ConfigureRequest(args=to_struct({"region": "us-east-1",
                                                           "defaultTags": '{"tags": {"team": "b"}}'})), FakeContext())
    old = fleet.check({}, fleet_inputs(tags={"a": "1"})).inputs
    response = provider.Diff(pb.DiffRequest(urn=FLEET_URN, id="fleet-1",
                                            olds=to_struct({**old, "tagsAll": {"a": "1", "team": "a"}}),
                                            old_inputs=to_struct(old), news=to_struct(old)), FakeContext())
    assert list(response.diffs) == ["tagsAll"] and list(response.replaces) == []
    assert response.detailedDiff["tagsAll"].kind == pb.PropertyDiff.UPDATE
