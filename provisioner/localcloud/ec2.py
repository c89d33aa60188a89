"""The local EC2: moto's server in a child process on a free 127.0.0.1 port.

    with LocalEC2(state_dir) as ec2:          # starts moto, writes <state_dir>/ec2.json
        seed = ec2.seed()                     # subnets per zone, security group, AMIs per arch
        ec2.inject_capacity_error("m6i.large", "us-east-1a", "spot")

`LocalEC2.attach(state_dir)` reuses a moto started by another process (e.g. `local up`)
through the state file; stop() on an attached instance stops that process too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from provisioner.localcloud.capacity import CONTROL_PATH, CapacityError
from provisioner.pids import pid_alive

DEFAULT_REGION = "us-east-1"  # our price table is us-east-1; moto has AMIs for both arches and 6 zones there
STATE_FILE = "ec2.json"
LOG_FILE = "ec2.log"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
DUMMY_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
ARCHES = {"amd64": "x86_64", "arm64": "arm64"}
AMI_NAME_PATTERN = "al2023-ami-2023.*"
SEED_AMI_NAME = "provisioner-local-{arch}"


class LocalEC2Error(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalEC2Seed:
    region: str
    zones: tuple[str, ...]
    subnets: dict[str, str]
    security_group_ids: tuple[str, ...]
    amis: dict[str, str]
    vpc_id: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["zones"] = list(self.zones)
        data["security_group_ids"] = list(self.security_group_ids)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LocalEC2Seed":
        return cls(
            region=data["region"],
            zones=tuple(data["zones"]),
            subnets=dict(data["subnets"]),
            security_group_ids=tuple(data["security_group_ids"]),
            amis=dict(data["amis"]),
            vpc_id=data.get("vpc_id", ""),
        )


@dataclass(frozen=True)
class LocalEC2Info:
    pid: int
    port: int
    endpoint: str
    region: str
    log_path: str
    seed: LocalEC2Seed | None = None

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "seed"}
        data["seed"] = self.seed.to_json() if self.seed else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LocalEC2Info":
        seed = data.get("seed")
        return cls(
            pid=int(data["pid"]),
            port=int(data["port"]),
            endpoint=data["endpoint"],
            region=data.get("region", DEFAULT_REGION),
            log_path=data.get("log_path", ""),
            seed=LocalEC2Seed.from_json(seed) if seed else None,
        )


def _is_our_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"provisioner.localcloud.moto_server" in cmdline


class LocalEC2:
    def __init__(self, state_dir: Path, region: str = DEFAULT_REGION) -> None:
        self.state_dir = Path(state_dir)
        self.region = region
        self._proc: subprocess.Popen[bytes] | None = None
        self._info: LocalEC2Info | None = None

    # ---- lifecycle -----------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.state_dir / STATE_FILE

    @property
    def log_path(self) -> Path:
        return self.state_dir / LOG_FILE

    @property
    def info(self) -> LocalEC2Info:
        if self._info is None:
            raise LocalEC2Error("local EC2 is not started (call start() or attach())")
        return self._info

    @property
    def endpoint(self) -> str:
        return self.info.endpoint

    @property
    def running(self) -> bool:
        if self._info is None:
            return False
        return pid_alive(self._info.pid) if self._info.pid else True  # by endpoint: assume so

    def start(self, timeout: float = START_TIMEOUT) -> LocalEC2Info:
        """Start moto in a child process and wait until it answers EC2 calls."""
        if self._info is not None:
            return self._info
        self.state_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.state_dir / "ec2.port"
        port_file.unlink(missing_ok=True)
        env = dict(os.environ)
        env["MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION"] = "true"
        env["MOTO_ENABLE_AMI_VALIDATION"] = "true"
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "provisioner.localcloud.moto_server", "--host", "127.0.0.1",
                 "--port", "0", "--port-file", str(port_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,  # a Ctrl-C in the parent's terminal must not kill it mid-stop
            )
        try:
            port = self._wait_for_port(port_file, timeout)
            endpoint = f"http://127.0.0.1:{port}"
            self._wait_ready(endpoint, timeout)
        except BaseException:
            self._terminate(self._proc.pid)
            self._proc = None
            raise
        finally:
            port_file.unlink(missing_ok=True)
        self._info = LocalEC2Info(self._proc.pid, port, endpoint, self.region, str(self.log_path))
        self._write_state()
        return self._info

    @classmethod
    def attach(cls, state_dir: Path, endpoint: str | None = None, region: str = DEFAULT_REGION) -> "LocalEC2":
        """Use a moto started by another process (e.g. `local up`).

        From `<state_dir>/ec2.json` by default; with `endpoint`, a server known only by its URL
        (then stop() leaves the process alone: we do not know it).
        """
        self = cls(state_dir, region)
        if endpoint is not None:
            port = int(endpoint.rstrip("/").rsplit(":", 1)[-1])
            self._info = LocalEC2Info(0, port, endpoint.rstrip("/"), region, "")
            self._wait_ready(self._info.endpoint, 10.0)
            return self
        try:
            info = LocalEC2Info.from_json(json.loads(self.state_path.read_text()))
        except (OSError, ValueError, KeyError) as err:
            raise LocalEC2Error(f"no usable local EC2 state in {self.state_path}: {err}") from err
        if not pid_alive(info.pid):
            raise LocalEC2Error(f"local EC2 (pid {info.pid}) from {self.state_path} is not running")
        self.region = info.region
        self._info = info
        self._wait_ready(info.endpoint, 10.0)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server (SIGTERM, then SIGKILL after `timeout`) and remove the state file."""
        if self._info is None:
            return
        pid = self._info.pid
        if pid and (self._proc is not None or _is_our_server(pid)):
            self._terminate(pid, timeout)
        self._proc = None
        self._info = None
        try:
            if json.loads(self.state_path.read_text()).get("pid") == pid:
                self.state_path.unlink()
        except (OSError, ValueError):
            pass

    def __enter__(self) -> "LocalEC2":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _terminate(self, pid: int, timeout: float = STOP_TIMEOUT) -> None:
        proc = self._proc if self._proc is not None and self._proc.pid == pid else None
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            if proc is not None:
                try:
                    proc.wait(timeout=timeout)
                    return
                except subprocess.TimeoutExpired:
                    continue
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and pid_alive(pid):
                time.sleep(0.05)
            if not pid_alive(pid):
                return
        if proc is not None:
            proc.wait(timeout=timeout)

    def _wait_for_port(self, port_file: Path, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LocalEC2Error(f"local EC2 exited with {self._proc.returncode}; see {self.log_path}")
            try:
                return int(json.loads(port_file.read_text())["port"])
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)
        raise LocalEC2Error(f"local EC2 did not report its port within {timeout:.0f}s; see {self.log_path}")

    def _wait_ready(self, endpoint: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                self._control("GET", endpoint=endpoint, timeout=2.0)
                return
            except (OSError, urllib.error.URLError) as err:
                last = err
                time.sleep(0.05)
        raise LocalEC2Error(f"local EC2 at {endpoint} not ready within {timeout:.0f}s: {last}")

    def _write_state(self) -> None:
        if not self.info.pid:
            return  # attached by endpoint only: the state file belongs to whoever started it
        tmp = self.state_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.info.to_json(), indent=2))
        tmp.replace(self.state_path)

    # ---- clients and seed ----------------------------------------------------------------------

    def client(self, service: str = "ec2") -> Any:
        import boto3

        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint, **DUMMY_CREDENTIALS)

    def seed(self) -> LocalEC2Seed:
        """The default VPC's subnets (one per zone), its default security group and an AMI per arch.

        Idempotent: reading moto's state again gives the same answer; an AMI we had to register is
        found by name next time.
        """
        if self.info.seed is not None:
            return self.info.seed
        ec2 = self.client("ec2")
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise LocalEC2Error(f"moto has no default VPC in {self.region}")
        vpc_id = vpcs[0]["VpcId"]
        subnets: dict[str, str] = {}
        for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
            zone = subnet["AvailabilityZone"]
            if subnet.get("DefaultForAz") or zone not in subnets:
                subnets[zone] = subnet["SubnetId"]
        subnets = dict(sorted(subnets.items()))
        groups = ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"]
        amis = {arch: self._ami_for(ec2, arch) for arch in ARCHES}
        seed = LocalEC2Seed(
            region=self.region,
            zones=tuple(subnets),
            subnets=subnets,
            security_group_ids=tuple(g["GroupId"] for g in groups),
            amis=amis,
            vpc_id=vpc_id,
        )
        self._info = LocalEC2Info(**{**asdict(self.info), "seed": seed})
        self._write_state()
        return seed

    def _ami_for(self, ec2: Any, arch: str) -> str:
        machine = ARCHES[arch]
        arch_filter = {"Name": "architecture", "Values": [machine]}
        for filters, owners in (
            ([arch_filter, {"Name": "name", "Values": [AMI_NAME_PATTERN]}], ["amazon"]),
            ([arch_filter], ["amazon"]),
            ([{"Name": "name", "Values": [SEED_AMI_NAME.format(arch=arch)]}], ["self"]),
        ):
            images = ec2.describe_images(Owners=owners, Filters=filters)["Images"]
            # Newest first, ties broken by name, so the choice is stable across runs.
            images = [i for i in images if "minimal" not in i.get("Name", "") and not i.get("Platform")]
            if images:
                best = max(images, key=lambda i: (i.get("CreationDate", ""), i.get("Name", ""), i["ImageId"]))
                return best["ImageId"]
        return ec2.register_image(
            Name=SEED_AMI_NAME.format(arch=arch),
            Architecture=machine,
            RootDeviceName="/dev/xvda",
            VirtualizationType="hvm",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3"}}],
        )["ImageId"]

    # ---- capacity errors -----------------------------------------------------------------------

    def inject_capacity_error(
        self, instance_type: str, zone: str, capacity_type: str, error_code: str = "InsufficientInstanceCapacity"
    ) -> None:
        """Make `instance_type` in `zone` (or "*") for `capacity_type` (or "*") fail with `error_code`."""
        error = CapacityError(instance_type, zone, capacity_type, error_code)
        self._control("POST", error.to_json())

    def clear_capacity_errors(self) -> None:
        self._control("DELETE")

    def capacity_errors(self) -> list[CapacityError]:
        return [CapacityError.from_json(e) for e in self._control("GET")["errors"]]

    def _control(self, method: str, body: object | None = None, endpoint: str | None = None,
                 timeout: float = 10.0) -> dict[str, Any]:
        url = (endpoint or self.endpoint) + CONTROL_PATH
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            raise LocalEC2Error(f"{method} {url}: {err.code} {err.read().decode(errors='replace')}") from err
