"""Wiring of the controller process: watches, reconciler, leader election, HTTP endpoints."""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from provisioner.disruption.controller import DisruptionConfig, Disruptor
from provisioner.provisioning.config import LoopConfig
from provisioner.provisioning.httpserver import HealthServer
from provisioner.provisioning.leader import LeaseElector
from provisioner.provisioning.metrics import Metrics
from provisioner.provisioning.proposals import ProposalRecorder
from provisioner.provisioning.reconciler import Reconciler
from provisioner.provisioning.report import Reporter
from provisioner.state import kinds
from provisioner.state.kube import KubeClient
from provisioner.state.reflector import start_all, wait_synced
from provisioner.state.store import Store

LOG = logging.getLogger("provisioner.controller")


@dataclass(frozen=True)
class ControllerOptions:
    loop: LoopConfig
    stack: str = "local"
    kubeconfig: str | None = None
    ec2_endpoint: str | None = None  # local mode: the local EC2
    backend_url: str | None = None
    namespace: str = "kube-system"
    leader_elect: bool = True
    lease_name: str = "provisioner"
    lease_seconds: float = 15.0
    identity: str = ""
    health_host: str = "127.0.0.1"
    health_port: int = 8081
    project_dir: Path | None = None
    disruption: DisruptionConfig | None = DisruptionConfig()  # None: no disruption controller


def ec2_client(region: str, endpoint: str | None) -> Any:
    import boto3

    if endpoint:
        return boto3.client("ec2", region_name=region, endpoint_url=endpoint, aws_access_key_id="local",
                            aws_secret_access_key="local")
    return boto3.client("ec2", region_name=region)


def fleet_stack(opts: ControllerOptions) -> Any:
    from provisioner.stack.operations import FleetStack
    from provisioner.stack.target import LocalCloud, StackTarget

    kwargs: dict[str, Any] = {"stack": opts.stack, "region": opts.loop.region, "backend_url": opts.backend_url}
    if opts.project_dir:
        kwargs["project_dir"] = opts.project_dir
    if opts.ec2_endpoint:
        kwargs["local_cloud"] = LocalCloud(endpoint=opts.ec2_endpoint, region=opts.loop.region)
    return FleetStack(StackTarget(**kwargs))


class Controller:
    def __init__(self, opts: ControllerOptions) -> None:
        self.opts = replace(opts, identity=opts.identity or f"{socket.gethostname()}-{os.getpid()}")
        self.stop = threading.Event()
        self.kube = KubeClient(opts.kubeconfig)
        self.store = Store()
        self.metrics = Metrics()
        self.reporter = Reporter(self.kube)
        self.ec2 = ec2_client(opts.loop.region, opts.ec2_endpoint)
        self.fleet = fleet_stack(opts)
        from provisioner.stack.recovery import recover

        # A file backend's lock names a pid recover() can check; an object-store lock cannot be
        # checked, and only the Lease holder acts, so the leader declares such a lock abandoned.
        abandoned = not self.fleet.env["PULUMI_BACKEND_URL"].startswith("file://")
        self.reconciler = Reconciler(
            opts.loop, self.store, self.fleet, self.ec2, self.reporter, self.metrics,
            recover=lambda: recover(self.fleet, self.ec2, opts.loop.cluster, assume_abandoned=abandoned),
            proposals=ProposalRecorder(self.kube, self.reporter, opts.namespace, opts.stack))
        self.elector = LeaseElector(self.kube, opts.namespace, opts.lease_name, self.opts.identity,
                                    lease_seconds=opts.lease_seconds, renew_seconds=max(1.0, opts.lease_seconds / 5),
                                    on_change=lambda lead: self.metrics.is_leader.set(1 if lead else 0))
        self.disruptor = (Disruptor(opts.disruption, self.reconciler, self.kube, self.reporter, self.metrics)
                          if opts.disruption is not None and opts.loop.mode == "apply" else None)
        self.server: HealthServer | None = None
        self.reflectors: list = []

    def is_leader(self) -> bool:
        return self.elector.leader if self.opts.leader_elect else True

    def healthy(self) -> tuple[bool, str]:
        stale = self.reconciler.clock() - self.reconciler.last_tick
        if self.reconciler.last_tick and stale > 60:
            return False, f"loop stalled for {stale:.0f}s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        if not self.store.synced(tuple(k.name for k in kinds.ALL)):
            return False, "caches not synced"
        if self.is_leader() and not self.reconciler.started:
            return False, "leader, stack not recovered yet"
        return True, "leader" if self.is_leader() else "standby"

    def start(self) -> None:
        self.server = HealthServer(self.opts.health_host, self.opts.health_port, self.metrics, self.healthy, self.ready)
        self.reflectors = start_all(self.kube, kinds.ALL, self.store, self.stop)
        if not wait_synced(self.store, kinds.ALL, 60):
            raise RuntimeError("watch caches did not sync within 60s")
        if self.opts.leader_elect:
            self.elector.start(self.stop)
        LOG.info("controller %s started (stack %s, cluster %s, mode %s, health port %s)", self.opts.identity,
                 self.opts.stack, self.opts.loop.cluster, self.opts.loop.mode, self.server.port)

    def run(self) -> None:
        if self.disruptor is not None:
            threading.Thread(target=self.disruptor.run, args=(self.stop, self.is_leader), name="disruption",
                             daemon=True).start()
        self.reconciler.run(self.stop, self.is_leader)

    def close(self) -> None:
        self.stop.set()
        for r in self.reflectors:
            r.close()
        if self.opts.leader_elect:
            try:
                self.elector.release()
            except Exception:  # noqa: BLE001
                pass
        self.reporter.close()
        if self.server:
            self.server.close()
