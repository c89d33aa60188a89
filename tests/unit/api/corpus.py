"""Valid and invalid NodePool/NodeClass documents, shared by the validator tests and the
CRD agreement tests.

Each invalid case names the one field it breaks, the exact message the Python validator
must give (after the `Kind "name": ` prefix), and which CRD mechanism rejects it on the API
server: "schema" (plain OpenAPI, so jsonschema must reject it too) or "cel" (an
x-kubernetes-validations rule, which jsonschema cannot evaluate).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

DELETE = object()


def nodepool(**spec: Any) -> dict[str, Any]:
    doc = {
        "apiVersion": "provisioner.sh/v1", "kind": "NodePool", "metadata": {"name": "default"},
        "spec": {"template": {"metadata": {"labels": {"team": "web"}}, "spec": {
            "nodeClassRef": {"group": "provisioner.sh", "kind": "NodeClass", "name": "default"},
            "requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}],
            "taints": [{"key": "example.com/dedicated", "value": "web", "effect": "NoSchedule"}],
            "startupTaints": [{"key": "example.com/warming", "effect": "NoExecute"}],
        }}, "disruption": {"budgets": [{"nodes": "10%"}]}},
    }
    doc["spec"].update(spec)
    return doc


def nodeclass(**spec: Any) -> dict[str, Any]:
    doc = {
        "apiVersion": "provisioner.sh/v1", "kind": "NodeClass", "metadata": {"name": "default"},
        "spec": {
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "role": "node-role",
            "subnetSelectorTerms": [{"tags": {"discovery": "demo"}}],
            "securityGroupSelectorTerms": [{"tags": {"discovery": "demo"}}],
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "rootVolume": True,
                                     "ebs": {"volumeSize": "20Gi", "volumeType": "gp3"}}],
            "kubelet": {"maxPods": 110},
            "tags": {"team": "web"},
        },
    }
    doc["spec"].update(spec)
    return doc


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def mutate(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `doc` with the field at `path` (e.g. spec.a.b[0].c) set to `value`, or removed."""
    doc = copy.deepcopy(doc)
    steps = [int(i) if i else k for k, i in _STEP.findall(path)]
    node = doc
    for step in steps[:-1]:
        node = node[step]
    if value is DELETE:
        del node[steps[-1]]
    else:
        node[steps[-1]] = value
    return doc


@dataclass(frozen=True)
class Case:
    id: str
    doc: dict[str, Any]
    error: str  # the Python validator's message, without the `Kind "name": ` prefix
    by: str  # "schema" or "cel"


TS = "spec.template.spec"
REQ = f"{TS}.requirements[0]"
OPS = "In, NotIn, Exists, DoesNotExist, Gt, Lt"
_LABEL_VALUE = "a label value (at most 63 alphanumerics, '-', '_' or '.')"


def _np(id: str, path: str, value: Any, error: str, by: str) -> Case:
    return Case(id, mutate(nodepool(), path, value), error, by)


def _nc(id: str, path: str, value: Any, error: str, by: str) -> Case:
    return Case(id, mutate(nodeclass(), path, value), error, by)


INVALID: list[Case] = [
    # NodePool: requirements
    _np("req-operator-enum", f"{REQ}.operator", "Within", f'{REQ}.operator: "Within" is not one of {OPS}', "schema"),
    _np("req-operator-missing", f"{REQ}.operator", DELETE, f"{REQ}.operator: required", "schema"),
    _np("req-key-missing", f"{REQ}.key", DELETE, f"{REQ}.key: required", "schema"),
    _np("req-key-pattern", f"{REQ}.key", "bad key!",
        f'{REQ}.key: "bad key!" is not a qualified name such as kubernetes.io/arch', "schema"),
    _np("req-key-hostname", f"{REQ}.key", "kubernetes.io/hostname",
        f'{REQ}.key: label "kubernetes.io/hostname" is restricted', "cel"),
    _np("req-key-karpenter-domain", f"{REQ}.key", "karpenter.sh/custom",
        f'{REQ}.key: label domain "karpenter.sh" is restricted', "cel"),
    _np("req-key-provisioner-domain", f"{REQ}.key", "team.provisioner.sh/x",
        f'{REQ}.key: label domain "provisioner.sh" is restricted', "cel"),
    _np("req-key-k8s-io-domain", f"{REQ}.key", "k8s.io/x", f'{REQ}.key: label domain "k8s.io" is restricted', "cel"),
    _np("req-in-no-values", f"{REQ}.values", DELETE, f"{REQ}: operator In needs at least one value", "cel"),
    _np("req-in-empty-values", f"{REQ}.values", [], f"{REQ}: operator In needs at least one value", "cel"),
    _np("req-exists-with-values", f"{REQ}.operator", "Exists", f"{REQ}: operator Exists takes no values", "cel"),
    _np("req-doesnotexist-with-values", f"{REQ}.operator", "DoesNotExist",
        f"{REQ}: operator DoesNotExist takes no values", "cel"),
    _np("req-gt-not-integer", f"{REQ}.operator", "Gt",
        f"{REQ}: operator Gt takes exactly one non-negative integer value", "cel"),
    _np("req-lt-two-values", REQ, {"key": "example.com/rank", "operator": "Lt", "values": ["1", "2"]},
        f"{REQ}: operator Lt takes exactly one non-negative integer value", "cel"),
    _np("req-min-values-too-many", f"{REQ}.minValues", 2, f"{REQ}: minValues 2 exceeds the number of values (1)", "cel"),
    _np("req-min-values-zero", f"{REQ}.minValues", 0, f"{REQ}.minValues: 0 is less than the minimum 1", "schema"),
    _np("req-min-values-type", f"{REQ}.minValues", "2", f'{REQ}.minValues: must be an integer, not string "2"', "schema"),
    _np("req-value-pattern", f"{REQ}.values", ["amd 64"], f'{REQ}.values[0]: "amd 64" is not {_LABEL_VALUE}', "schema"),
    _np("requirements-type", f"{TS}.requirements", "amd64",
        f'{TS}.requirements: must be a list, not string "amd64"', "schema"),
    _np("requirements-missing", f"{TS}.requirements", DELETE, f"{TS}.requirements: required", "schema"),
    # NodePool: labels, taints, durations, class reference
    _np("label-restricted", "spec.template.metadata.labels", {"provisioner.sh/nodepool": "x"},
        'spec.template.metadata.labels["provisioner.sh/nodepool"]: label is restricted', "cel"),
    _np("label-kubernetes-io", "spec.template.metadata.labels", {"example.kubernetes.io/x": "y"},
        'spec.template.metadata.labels["example.kubernetes.io/x"]: label domain "kubernetes.io" is restricted', "cel"),
    _np("label-key-invalid", "spec.template.metadata.labels", {"bad key": "y"},
        'spec.template.metadata.labels["bad key"]: is not a valid label key', "cel"),
    _np("label-value-invalid", "spec.template.metadata.labels", {"team": "a b"},
        f'spec.template.metadata.labels["team"]: "a b" is not {_LABEL_VALUE}', "schema"),
    _np("label-value-type", "spec.template.metadata.labels", {"team": 5},
        'spec.template.metadata.labels["team"]: must be a string, not integer 5', "schema"),
    _np("taint-effect", f"{TS}.taints[0].effect", "NoRun",
        f'{TS}.taints[0].effect: "NoRun" is not one of NoSchedule, PreferNoSchedule, NoExecute', "schema"),
    _np("taint-key-missing", f"{TS}.taints[0].key", DELETE, f"{TS}.taints[0].key: required", "schema"),
    _np("startup-taint-effect-missing", f"{TS}.startupTaints[0].effect", DELETE,
        f"{TS}.startupTaints[0].effect: required", "schema"),
    _np("expire-after-days", f"{TS}.expireAfter", "30d",
        f'{TS}.expireAfter: "30d" is not a duration such as 30s, 5m or 720h, or Never', "schema"),
    _np("termination-grace-never", f"{TS}.terminationGracePeriod", "Never",
        f'{TS}.terminationGracePeriod: "Never" is not a duration such as 30s, 5m or 1h30m', "schema"),
    _np("node-class-ref-kind", f"{TS}.nodeClassRef.kind", "EC2NodeClass",
        f'{TS}.nodeClassRef.kind: "EC2NodeClass" is not one of NodeClass', "schema"),
    _np("node-class-ref-group", f"{TS}.nodeClassRef.group", "karpenter.k8s.aws",
        f'{TS}.nodeClassRef.group: "karpenter.k8s.aws" is not one of provisioner.sh', "schema"),
    _np("node-class-ref-name-missing", f"{TS}.nodeClassRef.name", DELETE, f"{TS}.nodeClassRef.name: required",
        "schema"),
    _np("node-class-ref-missing", f"{TS}.nodeClassRef", DELETE, f"{TS}.nodeClassRef: required", "schema"),
    _np("template-unknown-field", f"{TS}.kubelet", {"maxPods": 10}, f"{TS}.kubelet: unknown field", "schema"),
    # NodePool: weight, limits, disruption
    _np("weight-zero", "spec.weight", 0, "spec.weight: 0 is less than the minimum 1", "schema"),
    _np("weight-too-big", "spec.weight", 101, "spec.weight: 101 is more than the maximum 100", "schema"),
    _np("weight-type", "spec.weight", "10", 'spec.weight: must be an integer, not string "10"', "schema"),
    _np("limits-quantity", "spec.limits", {"cpu": "lots"},
        'spec.limits["cpu"]: "lots" is not a quantity such as 100, 500m, 64Gi', "schema"),
    _np("limits-negative", "spec.limits", {"cpu": -1}, 'spec.limits["cpu"]: -1 is less than the minimum 0', "schema"),
    _np("consolidation-policy", "spec.disruption.consolidationPolicy", "Always",
        'spec.disruption.consolidationPolicy: "Always" is not one of WhenEmpty, WhenEmptyOrUnderutilized', "schema"),
    _np("consolidate-after", "spec.disruption.consolidateAfter", "soon",
        'spec.disruption.consolidateAfter: "soon" is not a duration such as 30s, 5m or 720h, or Never', "schema"),
    _np("budget-nodes-percent", "spec.disruption.budgets[0].nodes", "150%",
        'spec.disruption.budgets[0].nodes: "150%" is not a node count ("5") or a percentage ("10%")', "schema"),
    _np("budget-nodes-fraction", "spec.disruption.budgets[0].nodes", "1.5",
        'spec.disruption.budgets[0].nodes: "1.5" is not a node count ("5") or a percentage ("10%")', "schema"),
    _np("budget-schedule-alone", "spec.disruption.budgets[0].schedule", "@daily",
        "spec.disruption.budgets[0]: schedule and duration must be set together", "cel"),
    _np("budget-duration-alone", "spec.disruption.budgets[0].duration", "1h",
        "spec.disruption.budgets[0]: schedule and duration must be set together", "cel"),
    _np("budget-schedule-pattern", "spec.disruption.budgets[0]", {"nodes": "0", "schedule": "every day", "duration": "1h"},
        'spec.disruption.budgets[0].schedule: "every day" is not a cron schedule ("0 9 * * mon-fri") '
        "or a macro such as @daily", "schema"),
    _np("budget-duration-seconds", "spec.disruption.budgets[0]", {"nodes": "0", "schedule": "@daily", "duration": "90s"},
        'spec.disruption.budgets[0].duration: "90s" is not a duration in whole minutes or hours such as 30m, 8h '
        "or 1h30m", "schema"),
    _np("budget-reason", "spec.disruption.budgets[0].reasons", ["Boredom"],
        'spec.disruption.budgets[0].reasons[0]: "Boredom" is not one of Empty, Drifted, Underutilized, Expired',
        "schema"),
    _np("budget-reason-duplicate", "spec.disruption.budgets[0].reasons", ["Empty", "Drifted", "Empty"],
        'spec.disruption.budgets[0].reasons[2]: duplicate value "Empty"', "schema"),
    _np("template-missing", "spec.template", DELETE, "spec.template: required", "schema"),
    _np("name-not-dns", "metadata.name", "Default",
        "metadata.name: \"Default\" is not a DNS label (at most 63 lower-case alphanumerics or '-')", "cel"),
    # NodeClass
    _nc("ami-terms-empty", "spec.amiSelectorTerms", [], "spec.amiSelectorTerms: needs at least 1 item", "schema"),
    _nc("ami-terms-missing", "spec.amiSelectorTerms", DELETE, "spec.amiSelectorTerms: required", "schema"),
    Case("ami-term-empty", mutate(nodeclass(amiFamily="AL2023"), "spec.amiSelectorTerms", [{}]),
        "spec.amiSelectorTerms[0]: expected at least one of alias, id, name, tags", "cel"),
    _nc("ami-alias-pattern", "spec.amiSelectorTerms[0].alias", "al2023",
        'spec.amiSelectorTerms[0].alias: "al2023" is not an alias such as al2023@latest or bottlerocket@v1.20.3',
        "schema"),
    _nc("ami-alias-with-name", "spec.amiSelectorTerms[0].name", "my-ami-*",
        "spec.amiSelectorTerms[0]: alias cannot be combined with other fields in the same term", "cel"),
    _nc("ami-alias-not-alone", "spec.amiSelectorTerms", [{"alias": "al2023@latest"}, {"alias": "al2@latest"}],
        "spec.amiSelectorTerms: a term with an alias must be the only term", "cel"),
    _nc("ami-id-pattern", "spec.amiSelectorTerms", [{"id": "image-1"}],
        'spec.amiSelectorTerms[0].id: "image-1" is not an AMI id such as ami-0123456789abcdef0', "schema"),
    _nc("ami-family-required", "spec.amiSelectorTerms", [{"id": "ami-0123"}],
        "spec: amiFamily is required unless amiSelectorTerms uses an alias", "cel"),
    _nc("ami-family-mismatch", "spec.amiFamily", "AL2",
        "spec: amiFamily AL2 does not match the alias al2023@latest", "cel"),
    _nc("ami-family-enum", "spec.amiFamily", "Ubuntu",
        'spec.amiFamily: "Ubuntu" is not one of AL2023, AL2, Bottlerocket, Windows2019, Windows2022, Custom', "schema"),
    _nc("role-and-profile", "spec.instanceProfile", "profile",
        "spec: exactly one of role and instanceProfile must be set", "cel"),
    _nc("neither-role-nor-profile", "spec.role", DELETE, "spec: exactly one of role and instanceProfile must be set",
        "cel"),
    _nc("subnet-id-pattern", "spec.subnetSelectorTerms", [{"id": "sub-1"}],
        'spec.subnetSelectorTerms[0].id: "sub-1" is not a subnet id such as subnet-0123456789abcdef0', "schema"),
    _nc("subnet-term-empty", "spec.subnetSelectorTerms", [{}],
        "spec.subnetSelectorTerms[0]: expected at least one of id, tags", "cel"),
    _nc("subnet-id-and-tags", "spec.subnetSelectorTerms", [{"id": "subnet-1", "tags": {"a": "b"}}],
        "spec.subnetSelectorTerms[0]: id cannot be combined with other fields in the same term", "cel"),
    _nc("subnet-tag-empty-value", "spec.subnetSelectorTerms", [{"tags": {"a": ""}}],
        'spec.subnetSelectorTerms[0].tags["a"]: tag keys and values must not be empty', "cel"),
    _nc("sg-name-and-tags", "spec.securityGroupSelectorTerms", [{"name": "web", "tags": {"a": "b"}}],
        "spec.securityGroupSelectorTerms[0]: name cannot be combined with other fields in the same term", "cel"),
    _nc("sg-id-pattern", "spec.securityGroupSelectorTerms", [{"id": "group-1"}],
        'spec.securityGroupSelectorTerms[0].id: "group-1" is not a security group id such as sg-0123456789abcdef0',
        "schema"),
    _nc("two-root-volumes", "spec.blockDeviceMappings",
        [{"deviceName": d, "rootVolume": True, "ebs": {"volumeSize": "20Gi"}} for d in ("/dev/xvda", "/dev/xvdb")],
        "spec.blockDeviceMappings: at most one mapping may be the rootVolume", "cel"),
    _nc("ebs-volume-type", "spec.blockDeviceMappings[0].ebs.volumeType", "gp4",
        'spec.blockDeviceMappings[0].ebs.volumeType: "gp4" is not one of standard, io1, io2, gp2, sc1, st1, gp3',
        "schema"),
    _nc("ebs-no-size", "spec.blockDeviceMappings[0].ebs", {"volumeType": "gp3"},
        "spec.blockDeviceMappings[0].ebs: needs volumeSize or snapshotID", "cel"),
    _nc("ebs-size-pattern", "spec.blockDeviceMappings[0].ebs.volumeSize", "20 GB",
        'spec.blockDeviceMappings[0].ebs.volumeSize: "20 GB" is not a quantity such as 100, 500m, 20Gi', "schema"),
    _nc("ebs-iops-gp2", "spec.blockDeviceMappings[0].ebs", {"volumeSize": "20Gi", "volumeType": "gp2", "iops": 3000},
        "spec.blockDeviceMappings[0].ebs: iops is only for volumeType io1, io2 or gp3", "cel"),
    _nc("ebs-throughput-io2", "spec.blockDeviceMappings[0].ebs",
        {"volumeSize": "20Gi", "volumeType": "io2", "throughput": 500},
        "spec.blockDeviceMappings[0].ebs: throughput is only for volumeType gp3", "cel"),
    _nc("ebs-snapshot-pattern", "spec.blockDeviceMappings[0].ebs.snapshotID", "snapshot-1",
        'spec.blockDeviceMappings[0].ebs.snapshotID: "snapshot-1" is not a snapshot id such as '
        "snap-0123456789abcdef0", "schema"),
    _nc("bdm-device-missing", "spec.blockDeviceMappings[0].deviceName", DELETE,
        "spec.blockDeviceMappings[0].deviceName: required", "schema"),
    _nc("imds-tokens", "spec.metadataOptions", {"httpTokens": "maybe"},
        'spec.metadataOptions.httpTokens: "maybe" is not one of required, optional', "schema"),
    _nc("imds-hop-limit", "spec.metadataOptions", {"httpPutResponseHopLimit": 65},
        "spec.metadataOptions.httpPutResponseHopLimit: 65 is more than the maximum 64", "schema"),
    _nc("tag-reserved-ownership", "spec.tags", {"provisioner.sh/cluster": "x"},
        'spec.tags["provisioner.sh/cluster"]: tag key is reserved', "cel"),
    _nc("tag-reserved-cluster", "spec.tags", {"kubernetes.io/cluster/demo": "owned"},
        'spec.tags["kubernetes.io/cluster/demo"]: tag key is reserved', "cel"),
    _nc("tag-empty-value", "spec.tags", {"team": ""}, 'spec.tags["team"]: tag keys and values must not be empty', "cel"),
    _nc("kubelet-max-pods", "spec.kubelet.maxPods", -1, "spec.kubelet.maxPods: -1 is less than the minimum 0",
        "schema"),
    _nc("kubelet-reserved-key", "spec.kubelet.kubeReserved", {"gpu": "1"},
        'spec.kubelet.kubeReserved["gpu"]: key must be one of cpu, memory, ephemeral-storage, pid', "cel"),
    _nc("kubelet-reserved-quantity", "spec.kubelet.systemReserved", {"cpu": "a lot"},
        'spec.kubelet.systemReserved["cpu"]: "a lot" is not a quantity such as 100, 500m, 20Gi', "schema"),
    _nc("kubelet-eviction-value", "spec.kubelet.evictionHard", {"memory.available": "lots"},
        'spec.kubelet.evictionHard["memory.available"]: "lots" is not a percentage such as 10% or a quantity '
        "such as 100Mi", "schema"),
    _nc("kubelet-eviction-soft-grace", "spec.kubelet.evictionSoft", {"memory.available": "500Mi"},
        "spec.kubelet: every evictionSoft signal needs an evictionSoftGracePeriod", "cel"),
    _nc("kubelet-image-gc", "spec.kubelet", {"imageGCHighThresholdPercent": 50, "imageGCLowThresholdPercent": 60},
        "spec.kubelet: imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent", "cel"),
    _nc("kubelet-cluster-dns", "spec.kubelet.clusterDNS", ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"],
        "spec.kubelet.clusterDNS: has 4 items, at most 3 allowed", "schema"),
    _nc("public-ip-type", "spec.associatePublicIPAddress", "yes",
        'spec.associatePublicIPAddress: must be a boolean, not string "yes"', "schema"),
    _nc("unknown-field", "spec.instanceStorePolicy", "RAID0", "spec.instanceStorePolicy: unknown field", "schema"),
]

VALID: list[tuple[str, dict[str, Any]]] = [
    ("nodepool-base", nodepool()),
    ("nodepool-minimal", {"apiVersion": "provisioner.sh/v1", "kind": "NodePool", "metadata": {"name": "m"},
                          "spec": {"template": {"spec": {
                              "nodeClassRef": {"group": "provisioner.sh", "kind": "NodeClass", "name": "default"},
                              "requirements": []}}}}),
    ("req-exists", mutate(nodepool(), REQ, {"key": "example.com/gpu", "operator": "Exists"})),
    ("req-gt-zero", mutate(nodepool(), REQ, {"key": "provisioner.sh/instance-cpu", "operator": "Gt", "values": ["0"]})),
    ("req-notin-min-values", mutate(nodepool(), REQ, {"key": "karpenter.k8s.aws/instance-family", "operator": "NotIn",
                                                     "values": ["t3"], "minValues": 5})),
    ("label-exception-domain", mutate(nodepool(), "spec.template.metadata.labels",
                                      {"node.kubernetes.io/role": "web", "karpenter.sh/capacity-type": "spot"})),
    ("limits-int", mutate(nodepool(), "spec.limits", {"cpu": 100, "memory": "400Gi", "nvidia.com/gpu": "8"})),
    ("weight-bounds", mutate(nodepool(), "spec.weight", 100)),
    ("never", mutate(mutate(nodepool(), f"{TS}.expireAfter", "Never"), "spec.disruption.consolidateAfter", "Never")),
    ("budgets", mutate(nodepool(), "spec.disruption.budgets", [
        {"nodes": "0", "schedule": "0 9 * * mon-fri", "duration": "8h", "reasons": ["Underutilized", "Empty"]},
        {"nodes": "100%"}, {"nodes": "3", "schedule": "@hourly", "duration": "1h30m0s"}])),
    ("termination-grace", mutate(nodepool(), f"{TS}.terminationGracePeriod", "1h30m")),
    ("nodeclass-base", nodeclass()),
    ("nodeclass-bottlerocket", mutate(nodeclass(amiFamily="Bottlerocket"), "spec.amiSelectorTerms",
                                      [{"alias": "bottlerocket@v1.20.3"}])),
    ("nodeclass-custom-ami", mutate(nodeclass(amiFamily="Custom", userData="#!/bin/bash\necho hi\n"),
                                    "spec.amiSelectorTerms",
                                    [{"id": "ami-0123456789abcdef0"}, {"name": "my-ami-*", "owner": "self"},
                                     {"tags": {"team": "web"}}])),
    ("nodeclass-profile", mutate(nodeclass(instanceProfile="profile"), "spec.role", DELETE)),
    ("nodeclass-kubelet", nodeclass(kubelet={
        "maxPods": 58, "podsPerCore": 10, "kubeReserved": {"cpu": "100m", "pid": "1000"},
        "systemReserved": {"memory": "1Gi"}, "evictionHard": {"memory.available": "5%", "nodefs.available": "1Gi"},
        "evictionSoft": {"memory.available": "10%"}, "evictionSoftGracePeriod": {"memory.available": "1m30s"},
        "evictionMaxPodGracePeriod": 60, "imageGCHighThresholdPercent": 85, "imageGCLowThresholdPercent": 80,
        "cpuCFSQuota": True, "clusterDNS": ["10.100.0.10"]})),
    ("nodeclass-imds-and-flags", nodeclass(
        metadataOptions={"httpEndpoint": "enabled", "httpProtocolIPv6": "enabled", "httpPutResponseHopLimit": 2,
                         "httpTokens": "optional"}, associatePublicIPAddress=True, detailedMonitoring=True,
        securityGroupSelectorTerms=[{"id": "sg-0123"}, {"name": "web"}],
        subnetSelectorTerms=[{"id": "subnet-0123"}],
        blockDeviceMappings=[{"deviceName": "/dev/xvda", "rootVolume": True,
                              "ebs": {"volumeSize": "100Gi", "volumeType": "io2", "iops": 5000, "encrypted": True,
                                      "kmsKeyID": "arn:aws:kms:us-east-1:111122223333:key/abc",
                                      "deleteOnTermination": False}},
                             {"deviceName": "/dev/xvdb", "ebs": {"snapshotID": "snap-0123"}}])),
]
