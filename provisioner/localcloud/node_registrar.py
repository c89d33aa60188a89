"""Node registration in the local cloud: the kubelet's and the cloud controller's part.

Every ~1 s it lists the cluster's EC2 instances (tag `provisioner.sh/cluster=<cluster>`), and
* registers a Node for each instance that has been running for `boot_delay` seconds: name from
  the `provisioner.sh/node-name` tag (else the private DNS name), providerID
  `aws:///<zone>/<instance-id>`, the catalog's well-known labels plus the NodePool's labels and
  taints from the launch template user data, capacity/allocatable from the catalog, and the
  kwok annotation so that kwok makes it Ready and runs its pods;
* deletes the Nodes it registered whose instance is no longer running (the pod GC of
  kube-controller-manager then deletes the pods bound to them).

    python -m provisioner.localcloud.node_registrar --kubeconfig K --ec2-state S/ec2.json --cluster C
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Mapping

from provisioner.catalog import allocatable as alloc
from provisioner.catalog.instancetypes import InstanceType, from_ec2
from provisioner.catalog.labels import node_labels
from provisioner.fleet import ownership, userdata
from provisioner.termination import finalizer
from provisioner.toolchain.tools import KUBERNETES_VERSION as KUBELET_VERSION

LOG = logging.getLogger("node-registrar")
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
REGISTERED_BY = "provisioner.sh/registered-by"
REGISTERED_BY_VALUE = "local-cloud"
INSTANCE_ID_ANNOTATION = "provisioner.sh/instance-id"
LT_ID_TAG = "aws:ec2launchtemplate:id"
LT_VERSION_TAG = "aws:ec2launchtemplate:version"
GIB = 2**30


@dataclass(frozen=True)
class KubeletSettings:
    """The KubeletConfiguration fields the catalog's allocatable functions read."""

    max_pods: int | None = None
    pods_per_core: int | None = None
    kube_reserved: dict[str, str] | None = None
    system_reserved: dict[str, str] | None = None
    eviction_hard: dict[str, str] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "KubeletSettings":
        return cls(config.get("maxPods"), config.get("podsPerCore"), config.get("kubeReserved"),
                   config.get("systemReserved"), config.get("evictionHard"))


@dataclass(frozen=True)
class LaunchData:
    labels: dict[str, str]
    taints: list[userdata.Taint]
    kubelet: KubeletSettings
    root_volume_bytes: int = alloc.DEFAULT_ROOT_VOLUME_BYTES


@dataclass
class SyncResult:
    registered: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    waiting: int = 0


def provider_id(zone: str, instance_id: str) -> str:
    return f"aws:///{zone}/{instance_id}"


FLEET_ID_TAG = "aws:ec2:fleet-id"
FLEET_TAG_PATIENCE = 30.0  # seconds to wait for a fleet's tags before naming the node by its DNS name


def node_name(instance: Mapping[str, Any], fleet_tags: Mapping[str, str] | None = None) -> str:
    """The instance's `provisioner.sh/node-name` tag, else its EC2 Fleet's (the fleet program
    tags the fleet, not the instance), else the private DNS name."""
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    return (tags.get(ownership.NODE_NAME) or (fleet_tags or {}).get(ownership.NODE_NAME)
            or instance.get("PrivateDnsName") or instance["InstanceId"])


def node_object(instance: Mapping[str, Any], it: InstanceType, launch: LaunchData, region: str,
                name: str | None = None) -> dict[str, Any]:
    """The Node a kubelet on this instance would register (status included: nodes may set it on create)."""
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    name = name or node_name(instance)
    zone = instance["Placement"]["AvailabilityZone"]
    capacity_type = "spot" if instance.get("InstanceLifecycle") == "spot" else "on-demand"
    labels = dict(launch.labels)
    labels.update(node_labels(it, zone, region, capacity_type, tags.get(ownership.NODEPOOL, ""), hostname=name))
    capacity = alloc.capacity(it, launch.kubelet, launch.root_volume_bytes)
    allocatable = alloc.allocatable(it, launch.kubelet, launch.root_volume_bytes)
    addresses = [{"type": "Hostname", "address": name}]
    if instance.get("PrivateIpAddress"):
        addresses.insert(0, {"type": "InternalIP", "address": instance["PrivateIpAddress"]})
    if instance.get("PrivateDnsName"):
        addresses.append({"type": "InternalDNS", "address": instance["PrivateDnsName"]})
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {KWOK_ANNOTATION: "fake", REGISTERED_BY: REGISTERED_BY_VALUE,
                            INSTANCE_ID_ANNOTATION: instance["InstanceId"]},
        },
        "spec": {"providerID": provider_id(zone, instance["InstanceId"]),
                 "taints": [t.to_k8s() for t in launch.taints]},
        "status": {
            "capacity": capacity.to_k8s(), "allocatable": allocatable.to_k8s(), "addresses": addresses,
            "nodeInfo": {"architecture": it.architecture, "operatingSystem": "linux",
                         "kubeletVersion": KUBELET_VERSION, "osImage": "Amazon Linux 2023 (local cloud)",
                         "containerRuntimeVersion": "kwok", "kernelVersion": "", "kubeProxyVersion": "",
                         "machineID": "", "systemUUID": instance["InstanceId"], "bootID": ""},
        },
    }


class Kube:
    """Raw JSON calls through the official client's ApiClient (no model objects: fast for big lists)."""

    def __init__(self, kubeconfig: Path) -> None:
        from kubernetes import client

        self.api = client.ApiClient(configuration=_configuration(kubeconfig))

    def request(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None,
                content_type: str = "application/json") -> tuple[int, Any]:
        """(HTTP status, decoded JSON body); never raises on an HTTP error status."""
        params = self.api.param_serialize(
            method, path, query_params=list((query or {}).items()), body=body,
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            auth_settings=["BearerToken"])
        resp = self.api.call_api(*params, _request_timeout=30)
        resp.read()
        return resp.status, (json.loads(resp.data) if resp.data else None)

    def call(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None,
             ok: tuple[int, ...] = ()) -> Any:
        status, data = self.request(method, path, body, query)
        if status >= 300 and status not in ok:
            raise KubeError(status, f"{method} {path}: {status} {json.dumps(data)[:300] if data else ''}")
        return data

    def nodes(self) -> list[dict[str, Any]]:
        return self.call("GET", "/api/v1/nodes")["items"]

    def create_node(self, node: dict[str, Any]) -> None:
        self.call("POST", "/api/v1/nodes", body=node, ok=(409,))

    def delete_node(self, name: str) -> None:
        self.call("DELETE", f"/api/v1/nodes/{name}", ok=(404,))


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _configuration(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return cfg


class NodeRegistrar:
    def __init__(self, cluster: str, ec2: Any, kube: Any, region: str, boot_delay: float = 3.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cluster = cluster
        self.ec2 = ec2
        self.kube = kube
        self.region = region
        self.boot_delay = boot_delay
        self.clock = clock
        self.last_ok = 0.0
        self._first_running: dict[str, float] = {}
        self._types: dict[str, InstanceType] = {}
        self._launch: dict[tuple[str, str], LaunchData] = {}
        self._fleet_tags: dict[str, dict[str, str]] = {}

    def instances(self) -> list[dict[str, Any]]:
        out = []
        pages = self.ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": f"tag:{ownership.CLUSTER}", "Values": [self.cluster]}])
        for page in pages:
            for reservation in page["Reservations"]:
                out += reservation["Instances"]
        return out

    def sync_once(self) -> SyncResult:
        result = SyncResult()
        now = self.clock()
        running: dict[str, dict[str, Any]] = {}
        for inst in self.instances():
            if inst["State"]["Name"] == "running":
                running[inst["InstanceId"]] = inst
                self._first_running.setdefault(inst["InstanceId"], now)
        for gone in set(self._first_running) - set(running):
            del self._first_running[gone]

        ours: dict[str, str] = {}  # instance id -> node name
        existing: set[str] = set()
        held: set[str] = set()  # nodes with the provisioner's termination finalizer
        for node in self.kube.nodes():
            meta = node["metadata"]
            existing.add(meta["name"])
            if (meta.get("annotations") or {}).get(REGISTERED_BY) == REGISTERED_BY_VALUE:
                ours[meta["annotations"].get(INSTANCE_ID_ANNOTATION, "")] = meta["name"]
                if finalizer.FINALIZER in (meta.get("finalizers") or ()):
                    held.add(meta["name"])

        for instance_id, name in ours.items():
            if instance_id not in running:
                if name in held:  # the instance is gone: nothing is left for the finalizer to guarantee
                    finalizer.lift(self.kube, name)
                self.kube.delete_node(name)
                existing.discard(name)
                result.deleted.append(name)
                LOG.info("deleted node %s: instance %s is not running", name, instance_id)

        for instance_id, inst in running.items():
            if instance_id in ours:
                continue
            name = self._node_name(inst)
            if name is None:
                result.waiting += 1
                continue
            if name in existing:
                continue
            if now - self._first_running[instance_id] < self.boot_delay:
                result.waiting += 1
                continue
            node = node_object(inst, self._instance_type(inst["InstanceType"]), self._launch_data(inst),
                               self.region, name)
            self.kube.create_node(node)
            existing.add(node["metadata"]["name"])
            result.registered.append(node["metadata"]["name"])
            LOG.info("registered node %s for %s (%s)", node["metadata"]["name"], instance_id, inst["InstanceType"])
        self.last_ok = self.clock()
        return result

    def _node_name(self, inst: Mapping[str, Any]) -> str | None:
        """None while the name cannot be trusted yet. EC2 (moto too) makes an instance visible
        before it is complete and before its fleet record exists; the fleet appears last. So a
        fleet instance is registered only from a snapshot taken after its fleet was seen: the
        round that first sees the fleet caches its tags and defers to the next round."""
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        fleet_id = tags.get(FLEET_ID_TAG)
        if ownership.NODE_NAME in tags or not fleet_id:
            return node_name(inst)
        if fleet_id not in self._fleet_tags:
            fleets = self.ec2.describe_fleets(FleetIds=[fleet_id]).get("Fleets") or []
            fleet_tags = {t["Key"]: t["Value"] for t in (fleets[0].get("Tags") or [])} if fleets else {}
            if ownership.NODE_NAME in fleet_tags:
                self._fleet_tags[fleet_id] = fleet_tags
                return None
            waited = self.clock() - self._first_running.get(inst["InstanceId"], self.clock())
            return node_name(inst) if waited > FLEET_TAG_PATIENCE else None
        return node_name(inst, self._fleet_tags[fleet_id])

    def _instance_type(self, name: str) -> InstanceType:
        if name not in self._types:
            item = self.ec2.describe_instance_types(InstanceTypes=[name])["InstanceTypes"][0]
            self._types[name] = from_ec2(item)
        return self._types[name]

    def _launch_data(self, inst: Mapping[str, Any]) -> LaunchData:
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        key = (tags.get(LT_ID_TAG, ""), tags.get(LT_VERSION_TAG, ""))
        if key[0] and key in self._launch:
            return self._launch[key]
        text, root_gib = "", 0
        if key[0]:
            versions = self.ec2.describe_launch_template_versions(
                LaunchTemplateId=key[0], Versions=[key[1] or "$Default"])["LaunchTemplateVersions"]
            data = versions[0]["LaunchTemplateData"] if versions else {}
            text = data.get("UserData", "")
            for bdm in data.get("BlockDeviceMappings", []):
                if bdm.get("DeviceName") in ("/dev/xvda", "/dev/sda1", inst.get("RootDeviceName")):
                    root_gib = int((bdm.get("Ebs") or {}).get("VolumeSize") or 0)
        else:
            attr = self.ec2.describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="userData")
            text = (attr.get("UserData") or {}).get("Value", "")
        if text:
            text = base64.b64decode(text).decode(errors="replace")
        labels, taints = userdata.parse(text) if text else ({}, [])
        kubelet = KubeletSettings.from_config(userdata.kubelet_config(text) if text else {})
        launch = LaunchData(labels, taints, kubelet, root_gib * GIB if root_gib else alloc.DEFAULT_ROOT_VOLUME_BYTES)
        if key[0]:
            self._launch[key] = launch
        return launch

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.sync_once()
            except Exception:  # noqa: BLE001 - keep running; health turns red if this persists
                LOG.exception("sync failed")
            stop.wait(interval)


def _health_server(port: int, registrar: NodeRegistrar, stale_after: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            ok = registrar.last_ok and registrar.clock() - registrar.last_ok < stale_after
            body = json.dumps({"ok": bool(ok), "nodes_waiting_boot": len(registrar._first_running)}).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument("--ec2-state", required=True, type=Path, help="LocalEC2 state file (ec2.json)")
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--boot-delay", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--health-port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    import boto3

    from provisioner.localcloud.ec2 import DUMMY_CREDENTIALS, LocalEC2Info

    info = LocalEC2Info.from_json(json.loads(args.ec2_state.read_text()))
    ec2 = boto3.client("ec2", region_name=info.region, endpoint_url=info.endpoint, **DUMMY_CREDENTIALS)
    registrar = NodeRegistrar(args.cluster, ec2, Kube(args.kubeconfig), info.region, args.boot_delay)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = _health_server(args.health_port, registrar, stale_after=max(15.0, 5 * args.interval))
    LOG.info("watching instances of cluster %s at %s (boot delay %.1fs)", args.cluster, info.endpoint,
             args.boot_delay)
    try:
        registrar.run(stop, args.interval)
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
