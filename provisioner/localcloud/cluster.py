"""The local cluster: moto EC2, kine, the real control plane, kwok and our node registration.

`LocalCluster(state_dir).up()` starts every component in order on free 127.0.0.1 ports, waits
for each to be ready (polling with a deadline), writes `<state_dir>/cluster.json` (pids, ports,
logs) and returns, leaving the components running in their own process groups so that
`status()` / `down()` work from another process. Any failure or Ctrl-C during `up()` stops
whatever was started.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import yaml

from provisioner import paths, toolchain
from provisioner.localcloud import pki as pki_mod
from provisioner.localcloud import processes as proc
from provisioner.localcloud.capacity import CONTROL_PATH
from provisioner.localcloud.ec2 import DEFAULT_REGION, LocalEC2

if TYPE_CHECKING:
    from provisioner.localcloud.node_registrar import Kube

STATE_FILE = "cluster.json"
DEFAULT_CLUSTER = "local"
DEFAULT_BOOT_DELAY = 3.0
START_TIMEOUT = 90.0
SERVICE_CIDR = "10.0.0.0/24"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_STAGES = ("node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
               "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml")
KCM_CONTROLLERS = ("serviceaccount-controller", "node-lifecycle-controller", "taint-eviction-controller", "serviceaccount-token-controller", "namespace-controller",
                   "garbage-collector-controller", "deployment-controller", "replicaset-controller",
                   "statefulset-controller", "daemonset-controller", "job-controller", "disruption-controller",
                   "pod-garbage-collector-controller", "root-ca-certificate-publisher-controller",
                   "endpointslice-controller", "ttl-after-finished-controller")
ORDER = ("ec2", "kine", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "node-registrar")
# What each component's command line must contain: guards `down` against a recycled pid.
SIGNATURE = {"ec2": "provisioner.localcloud.moto_server", "kine": "kine", "kube-apiserver": "kube-apiserver",
             "kube-controller-manager": "kube-controller-manager", "kube-scheduler": "kube-scheduler",
             "kwok": "kwok", "node-registrar": "provisioner.localcloud.node_registrar"}

Log = Callable[[str], None]


def kine_endpoint(db: Path) -> str:
    """kine's SQLite endpoint: WAL, a busy timeout and immediate transactions. Without them the
    API server's start-up writes meet "database is locked (SQLITE_BUSY)" under load, and its
    bootstrap (namespace kube-system, CRDs established) can stall for minutes."""
    return f"sqlite://{db}?_journal=WAL&cache=shared&_busy_timeout=30000&_txlock=immediate"


class ClusterError(RuntimeError):
    pass


@dataclass
class Component:
    name: str
    pid: int
    port: int
    log: str
    url: str = ""

    def alive(self) -> bool:
        return proc.pid_alive(self.pid) and SIGNATURE[self.name] in proc.cmdline(self.pid)


@dataclass
class ClusterState:
    cluster: str
    state_dir: str
    kubeconfig: str
    server: str = ""
    region: str = DEFAULT_REGION
    ec2_endpoint: str = ""
    started_at: float = field(default_factory=time.time)
    ready_seconds: float = 0.0
    components: list[Component] = field(default_factory=list)

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ClusterState":
        comps = [Component(**c) for c in data.get("components", [])]
        return cls(**{**data, "components": comps})


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int
    port: int
    running: bool
    healthy: bool
    detail: str
    log: str


def _quiet(_: str) -> None:
    pass


class LocalCluster:
    def __init__(self, state_dir: Path | None = None, cluster: str = DEFAULT_CLUSTER,
                 boot_delay: float = DEFAULT_BOOT_DELAY, region: str = DEFAULT_REGION, log: Log = _quiet) -> None:
        self.state_dir = Path(state_dir or paths.local_state_dir()).resolve()
        self.cluster = cluster
        self.boot_delay = boot_delay
        self.region = region
        self.log = log
        self.state: ClusterState | None = None
        self._children: dict[str, proc.Child] = {}
        self._ec2: LocalEC2 | None = None

    # ---- clients (for tests and tools) -------------------------------------------------------

    def ec2(self) -> LocalEC2:
        """The running local EC2 (`.client("ec2")`, `.seed()`, capacity error injection)."""
        return LocalEC2.attach(self.state_dir)

    def kube(self) -> "Kube":
        from provisioner.localcloud.node_registrar import Kube

        return Kube(self.kubeconfig)

    # ---- files -----------------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.state_dir / STATE_FILE

    @property
    def kubeconfig(self) -> Path:
        """`paths.kubeconfig_path()` for the default state dir; `<state_dir>/kubeconfig` otherwise."""
        return self.state_dir / "kubeconfig"

    def load(self) -> ClusterState | None:
        try:
            return ClusterState.from_json(json.loads(self.state_path.read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def _save(self) -> None:
        assert self.state is not None
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state.to_json(), indent=2))
        tmp.replace(self.state_path)

    # ---- lifecycle -------------------------------------------------------------------------------

    def up(self, timeout: float = START_TIMEOUT) -> ClusterState:
        existing = self.load()
        if existing is not None:
            if any(c.alive() for c in existing.components):
                raise ClusterError(f"a local cluster is already running from {self.state_dir} "
                                   f"(`provisioner local down --state-dir {self.state_dir}` first)")
            self.log(f"[local] removing stale state {self.state_path}")
            self._stop_components(existing)
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tools = toolchain.ensure(toolchain.CLUSTER_TOOLS, log=self.log)
        pki = pki_mod.ensure(self.state_dir / "pki")
        self.state = ClusterState(cluster=self.cluster, state_dir=str(self.state_dir),
                                  kubeconfig=str(self.kubeconfig), region=self.region)
        try:
            self._start_ec2(timeout)
            self._start_kine(tools, timeout)
            self._start_apiserver(tools, pki, timeout)
            self._start_controller_manager(tools, pki, timeout)
            self._start_scheduler(tools, timeout)
            self._start_kwok(tools, timeout)
            self._start_registrar(timeout)
        except BaseException:
            self.log("[local] start failed; stopping what was started")
            self.down()
            raise
        self.state.ready_seconds = round(time.monotonic() - started, 2)
        self._save()
        self.log(f"[local] ready in {self.state.ready_seconds:.1f}s; kubeconfig {self.kubeconfig}")
        return self.state

    def down(self) -> list[str]:
        """Stop every component (reverse order); return the names stopped."""
        state = self.state or self.load()
        stopped: list[str] = []
        if state is not None:
            stopped = self._stop_components(state)
        for child in self._children.values():  # started but not yet recorded
            if child.alive():
                proc.stop(child.pid, popen=child.popen)
        self._children.clear()
        self.state = None
        self.state_path.unlink(missing_ok=True)
        (self.state_dir / "ec2.json").unlink(missing_ok=True)
        return stopped

    def _stop_components(self, state: ClusterState) -> list[str]:
        stopped = []
        for comp in sorted(state.components, key=lambda c: -ORDER.index(c.name)):
            if comp.alive():
                self.log(f"[local] stopping {comp.name} (pid {comp.pid})")
                child = self._children.get(comp.name)
                proc.stop(comp.pid, popen=child.popen if child else None)
                stopped.append(comp.name)
            self._children.pop(comp.name, None)
        return stopped

    def wait(self, poll: float = 1.0) -> str:
        """Block while every component runs (foreground mode); return the first one that died."""
        state = self.state or self.load()
        if state is None:
            raise ClusterError("no local cluster to wait for")
        while True:
            for comp in state.components:
                child = self._children.get(comp.name)
                if not (child.alive() if child else comp.alive()):
                    return comp.name
            time.sleep(poll)

    # ---- status ----------------------------------------------------------------------------------

    def status(self) -> list[ComponentStatus]:
        state = self.load()
        if state is None:
            return []
        out = []
        for comp in state.components:
            running = comp.alive()
            healthy, detail = (self._probe(state, comp) if running else (False, "not running"))
            out.append(ComponentStatus(comp.name, comp.pid, comp.port, running, healthy, detail, comp.log))
        return out

    def _probe(self, state: ClusterState, comp: Component) -> tuple[bool, str]:
        try:
            if comp.name == "kube-apiserver":
                code, body = _https_get(comp.url + "/readyz", Path(state.state_dir) / "pki")
                return code == 200, f"/readyz {code} {body.strip()[:40]}"
            if comp.name == "kine":
                return proc.port_open(comp.port), "etcd port open" if proc.port_open(comp.port) else "port closed"
            if comp.url:
                with urllib.request.urlopen(comp.url, timeout=3) as r:
                    return r.status == 200, f"HTTP {r.status} {comp.url.split('/', 3)[-1]}"
            return True, "running (no health endpoint: --secure-port=0)"
        except Exception as err:  # noqa: BLE001 - report, do not crash status
            return False, str(err)[:80]

    # ---- components ------------------------------------------------------------------------------

    def _record(self, child: proc.Child, url: str = "") -> None:
        assert self.state is not None
        self._children[child.name] = child
        self.state.components.append(Component(child.name, child.pid, child.port, str(child.log), url))
        self._save()

    def _ready(self, child: proc.Child, check: Callable[[], bool], timeout: float) -> None:
        hint = f"; see {child.log}:\n{child.log_tail()}"
        proc.wait_until(check, timeout, child.name, alive=child.alive, hint=hint)
        self.log(f"[local] {child.name} ready (pid {child.pid}, port {child.port})")

    def _logfile(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    def _start_ec2(self, timeout: float) -> None:
        assert self.state is not None
        self._ec2 = LocalEC2(self.state_dir, self.region)
        info = self._ec2.start(timeout)
        self._ec2.seed()
        self.state.ec2_endpoint = info.endpoint
        self._record(proc.Child("ec2", info.pid, Path(info.log_path), info.port), info.endpoint + CONTROL_PATH)
        self.log(f"[local] ec2 ready (pid {info.pid}, port {info.port})")

    def _start_kine(self, tools: dict[str, toolchain.Tool], timeout: float) -> None:
        port = proc.free_port()
        # sqlite, not memory://: under a 1,000-pod load kine's memory backend stopped with
        # "WATCH SEND EVENTS FOR PAST REVISION" (and the apiserver's etcd client panicked on it).
        assert self.state is not None
        db = self.state_dir / "kine" / "state.db"
        shutil.rmtree(db.parent, ignore_errors=True)  # every `up` starts an empty cluster
        db.parent.mkdir(parents=True)
        child = proc.spawn("kine", [str(tools["kine"].path()), f"--endpoint={kine_endpoint(db)}",
                                    f"--listen-address=127.0.0.1:{port}", "--metrics-bind-address=0"],
                           self._logfile("kine"), port)
        self._record(child)
        self._ready(child, lambda: proc.port_open(port), timeout)

    def _start_apiserver(self, tools: dict[str, toolchain.Tool], pki: pki_mod.Pki, timeout: float) -> None:
        assert self.state is not None
        kine = self.state.component("kine")
        assert kine is not None
        port = proc.free_port()
        argv = [
            str(tools["kubernetes"].path("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{kine.port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
            f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}", f"--token-auth-file={pki.token_file}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={SA_ISSUER}", f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            # Local and single-tenant: no request throttling (100 nodes / 1,000 pods bursts).
            "--enable-priority-and-fairness=false", "--max-requests-inflight=0",
            "--max-mutating-requests-inflight=0",
            "--profiling=false", "--event-ttl=10m",
        ]
        child = proc.spawn("kube-apiserver", argv, self._logfile("kube-apiserver"), port)
        url = f"https://127.0.0.1:{port}"
        self._record(child, url)
        self._ready(child, lambda: _https_get(url + "/readyz", pki.dir)[0] == 200, timeout)
        self.state.server = url
        self.kubeconfig.write_text(pki_mod.kubeconfig(url, pki, f"provisioner-{self.cluster}"))
        self.kubeconfig.chmod(0o600)
        self._save()

    def _start_controller_manager(self, tools: dict[str, toolchain.Tool], pki: pki_mod.Pki,
                                  timeout: float) -> None:
        argv = [
            str(tools["kubernetes"].path("kube-controller-manager")),
            f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--secure-port=0",
            f"--controllers={','.join(KCM_CONTROLLERS)}",
            f"--service-account-private-key-file={pki.sa_key}", f"--root-ca-file={pki.ca_cert}",
            "--kube-api-qps=200", "--kube-api-burst=400", "--concurrent-deployment-syncs=10",
            "--concurrent-replicaset-syncs=10",
        ]
        child = proc.spawn("kube-controller-manager", argv, self._logfile("kube-controller-manager"))
        self._record(child)
        # The serviceaccount controller creating `default/default` proves the controllers run.
        url = self.state.server if self.state else ""
        self._ready(child, lambda: _https_get(url + "/api/v1/namespaces/default/serviceaccounts/default",
                                              pki.dir)[0] == 200, timeout)

    def _start_scheduler(self, tools: dict[str, toolchain.Tool], timeout: float) -> None:
        config = self.state_dir / "scheduler.yaml"
        config.write_text(yaml.safe_dump({
            "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"kubeconfig": str(self.kubeconfig), "qps": 200, "burst": 400},
            "leaderElection": {"leaderElect": False},
        }))
        child = proc.spawn("kube-scheduler", [str(tools["kubernetes"].path("kube-scheduler")),
                                              f"--config={config}", "--secure-port=0", "--v=2"],
                           self._logfile("kube-scheduler"))
        self._record(child)
        # No health endpoint with --secure-port=0: ready once its informers have synced.
        # (it logs nothing at -v=0; at -v=2 it reports its informers).
        marks = ('Caches populated" type="*v1.Node"', 'Caches populated" type="*v1.Pod"')
        self._ready(child, lambda: all(m in child.log.read_text(errors="replace") for m in marks), timeout)

    def _start_kwok(self, tools: dict[str, toolchain.Tool], timeout: float) -> None:
        kwok = tools["kwok"]
        port = proc.free_port()
        argv = [str(kwok.path()), f"--kubeconfig={self.kubeconfig}",
                f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake", "--manage-all-nodes=false",
                f"--server-address=127.0.0.1:{port}", "--node-lease-duration-seconds=40"]
        for stage in KWOK_STAGES:
            argv.append(f"--config={kwok.home / 'stages' / stage}")
        child = proc.spawn("kwok", argv, self._logfile("kwok"), port)
        url = f"http://127.0.0.1:{port}/healthz"
        self._record(child, url)
        self._ready(child, lambda: _http_ok(url), timeout)

    def _start_registrar(self, timeout: float) -> None:
        port = proc.free_port()
        argv = [sys.executable, "-m", "provisioner.localcloud.node_registrar", f"--kubeconfig={self.kubeconfig}",
                f"--ec2-state={self.state_dir / 'ec2.json'}", f"--cluster={self.cluster}",
                f"--boot-delay={self.boot_delay}", f"--health-port={port}"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        child = proc.spawn("node-registrar", argv, self._logfile("node-registrar"), port, env=env)
        url = f"http://127.0.0.1:{port}/healthz"
        self._record(child, url)
        self._ready(child, lambda: _http_ok(url), timeout)


def _https_get(url: str, pki_dir: Path) -> tuple[int, str]:
    pki = pki_mod.Pki(pki_dir)
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {pki.admin_token}"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=3) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.status == 200
