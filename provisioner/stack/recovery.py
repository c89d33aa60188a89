"""Crash safety for fleet stacks: stale locks, interrupted updates and orphan instances.

A process killed in the middle of `pulumi up` leaves three things behind: a lock file
that never expires, `pending_operations` in the checkpoint, and possibly an instance that
EC2 launched but the state never recorded. `recover()` deals with all three, in that
order, and only clears a lock whose holder is provably dead (same host, pid gone) or
that the caller, as leader, declares abandoned.
"""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from provisioner.fleet import ownership
from provisioner.pids import pid_alive
from provisioner.stack.operations import FleetStack

FLEET_ID_TAG = "aws:ec2:fleet-id"


class StackBusyError(RuntimeError):
    pass


@dataclass(frozen=True)
class LockInfo:
    path: Path
    pid: int
    hostname: str
    timestamp: str

    @property
    def holder_alive(self) -> bool:
        if self.hostname != socket.gethostname():
            return True  # cannot tell: assume alive
        return pid_alive(self.pid)


@dataclass
class RecoveryReport:
    restored_checkpoint: str = ""
    cleared_locks: list[str] = field(default_factory=list)
    pending_operations: list[str] = field(default_factory=list)
    terminated_orphans: list[str] = field(default_factory=list)

    deleted_templates: list[str] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(self.restored_checkpoint or self.cleared_locks or self.pending_operations
                    or self.terminated_orphans or self.deleted_templates)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def stack_locks(fleet: FleetStack) -> list[LockInfo]:
    url = urlparse(fleet.env["PULUMI_BACKEND_URL"])
    if url.scheme != "file":
        return []  # object-store backends: cleared only through `assume_abandoned`
    root = Path(url.path) / ".pulumi" / "locks"
    out = []
    for path in root.rglob("*.json"):
        if path.parent.name != fleet.name:
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        out.append(LockInfo(path=path, pid=int(data.get("pid", 0)), hostname=data.get("hostname", ""),
                            timestamp=str(data.get("timestamp", ""))))
    return out


def repair_checkpoint(fleet: FleetStack) -> str:
    """A kill during a checkpoint write can truncate the file backend's checkpoint: restore its .bak."""
    url = urlparse(fleet.env["PULUMI_BACKEND_URL"])
    if url.scheme != "file":
        return ""
    for path in (Path(url.path) / ".pulumi" / "stacks").glob(f"*/{fleet.name}.json"):
        try:
            json.loads(path.read_text())
            continue
        except (OSError, json.JSONDecodeError):
            pass
        backup = path.with_name(path.name + ".bak")
        json.loads(backup.read_text())  # raises if the backup is unusable too: a human must look
        shutil.copyfile(backup, path)
        attrs = backup.with_name(backup.name + ".attrs")
        if attrs.exists():
            shutil.copyfile(attrs, path.with_name(path.name + ".attrs"))
        return str(path)
    return ""


def owned_instances(ec2, cluster: str) -> list[dict]:
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": f"tag:{ownership.CLUSTER}", "Values": [cluster]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
    ])
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def recorded_instance_ids(deployment: dict) -> set[str]:
    ids: set[str] = set()
    for res in deployment.get("resources") or []:
        if res.get("type") != "aws:ec2/fleet:Fleet":
            continue
        for fleet_set in (res.get("outputs") or {}).get("fleetInstanceSets") or []:
            ids.update(fleet_set.get("instanceIds") or [])
    return ids


def recorded_template_ids(deployment: dict) -> set[str]:
    return {res.get("id") for res in deployment.get("resources") or []
            if res.get("type") == "aws:ec2/launchTemplate:LaunchTemplate" and res.get("id")}


def owned_templates(ec2, cluster: str) -> list[str]:
    found = ec2.describe_launch_templates(Filters=[{"Name": f"tag:{ownership.CLUSTER}", "Values": [cluster]}])
    return [t["LaunchTemplateId"] for t in found["LaunchTemplates"]]


def recover(fleet: FleetStack, ec2, cluster: str, assume_abandoned: bool = False) -> RecoveryReport:
    report = RecoveryReport()
    report.restored_checkpoint = repair_checkpoint(fleet)
    locks = stack_locks(fleet)
    live = [lk for lk in locks if lk.holder_alive and not assume_abandoned]
    if live:
        lk = live[0]
        raise StackBusyError(f"stack {fleet.name} is locked by pid {lk.pid} on {lk.hostname} since {lk.timestamp}")
    if locks or assume_abandoned:
        fleet.cancel()  # deletes the DIY backend's lock files
        report.cleared_locks = [str(lk.path) for lk in locks]

    deployment = fleet.export()
    pending = deployment.get("pending_operations") or []
    if pending:
        report.pending_operations = [f"{p.get('type')} {p.get('resource', {}).get('urn', '')}" for p in pending]
        fleet.refresh(clear_pending_creates=True)
        deployment = fleet.export()

    known = recorded_instance_ids(deployment)
    orphans = [i["InstanceId"] for i in owned_instances(ec2, cluster) if i["InstanceId"] not in known]
    if orphans:
        ec2.terminate_instances(InstanceIds=orphans)
        report.terminated_orphans = orphans
    # Templates are harmless but would collide by name with the content-addressed ones re-created.
    stray = sorted(set(owned_templates(ec2, cluster)) - recorded_template_ids(deployment))
    for template_id in stray:
        ec2.delete_launch_template(LaunchTemplateId=template_id)
    report.deleted_templates = stray
    return report
