"""Pieces every resource type of the stand-in provider uses: config, values, diffs, naming, polling."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from google.protobuf import json_format, struct_pb2

PLUGIN_VERSION = "7.51.1"  # the pulumi-aws SDK this stand-in speaks for
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's sentinel for values unknown in preview
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's account; the stand-in never asks STS


class ProviderError(Exception):
    """A failure reported to the engine as the operation's error text."""


@dataclass(frozen=True)
class CheckFailure:
    property: str
    reason: str


@dataclass
class CheckResult:
    inputs: dict[str, Any]
    failures: list[CheckFailure] = field(default_factory=list)


@dataclass
class DiffResult:
    changed: list[str] = field(default_factory=list)  # top-level properties that differ
    replaces: list[str] = field(default_factory=list)
    delete_before_replace: bool = False

    @property
    def has_changes(self) -> bool:
        return bool(self.changed)


@dataclass
class ReadResult:
    id: str  # "" when the resource is gone
    outputs: dict[str, Any]
    inputs: dict[str, Any]


# ---- values ------------------------------------------------------------------------------------


def is_unknown(value: Any) -> bool:
    return value == UNKNOWN


def contains_unknown(value: Any) -> bool:
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def unwrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def _integral(value: Any) -> Any:
    # Struct numbers are doubles; give integral values back as ints so EC2 calls and diffs agree.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def from_struct(struct: struct_pb2.Struct | None) -> dict[str, Any]:
    if struct is None:
        return {}
    return _integral(unwrap_secrets(json_format.MessageToDict(struct)))


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(_drop_none(props))
    return struct


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def prune(props: dict[str, Any]) -> dict[str, Any]:
    """Drop None-valued and empty-collection properties (absent in Pulumi terms)."""
    return {k: v for k, v in props.items() if v is not None and v != [] and v != {}}


# ---- config ------------------------------------------------------------------------------------


def _config_value(raw: Any) -> Any:
    if isinstance(raw, str):
        stripped = raw.strip()
        if stripped[:1] in ("[", "{") or stripped in ("true", "false"):
            try:
                return json.loads(stripped)
            except ValueError:
                return raw
    return raw


@dataclass(frozen=True)
class ProviderConfig:
    region: str = ""
    endpoints: dict[str, str] = field(default_factory=dict)
    access_key: str = "test"
    secret_key: str = "test"
    default_tags: dict[str, str] = field(default_factory=dict)
    skip_credentials_validation: bool = False
    skip_requesting_account_id: bool = False

    @classmethod
    def parse(cls, variables: dict[str, str], args: dict[str, Any]) -> "ProviderConfig":
        """Config arrives as `aws:config:region`-style variables and/or plain `region` args."""
        merged: dict[str, Any] = {}
        for key, raw in variables.items():
            merged[key.split(":")[-1]] = _config_value(raw)
        for key, raw in args.items():
            merged[key.split(":")[-1]] = _config_value(raw)
        merged = unwrap_secrets(merged)
        endpoints: dict[str, str] = {}
        raw_endpoints = merged.get("endpoints") or []
        for entry in raw_endpoints if isinstance(raw_endpoints, list) else [raw_endpoints]:
            if isinstance(entry, dict):
                endpoints.update({k: str(v) for k, v in entry.items() if v})
        default_tags = merged.get("defaultTags") or {}
        if isinstance(default_tags, dict):
            default_tags = default_tags.get("tags") or {}
        return cls(
            region=str(merged.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""),
            endpoints=endpoints,
            access_key=str(merged.get("accessKey") or "test"),
            secret_key=str(merged.get("secretKey") or "test"),
            default_tags={str(k): str(v) for k, v in dict(default_tags).items()},
            skip_credentials_validation=bool(merged.get("skipCredentialsValidation")),
            skip_requesting_account_id=bool(merged.get("skipRequestingAccountId")),
        )

    def ec2_endpoint(self) -> str:
        endpoint = self.endpoints.get("ec2") or os.environ.get("AWS_ENDPOINT_URL_EC2") or os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            # The stand-in only ever talks to the local EC2; never fall through to real AWS.
            raise ProviderError(
                "the local stand-in aws provider needs an EC2 endpoint: set aws:endpoints to "
                '[{"ec2": "http://127.0.0.1:PORT"}]'
            )
        return endpoint


class ApiTimer:
    """Seconds this thread spent inside EC2 API calls (botocore events), so the call log can split
    a provider call into EC2 time and the provider's own time."""

    _local = threading.local()

    @classmethod
    def reset(cls) -> None:
        cls._local.seconds = 0.0
        cls._local.calls = 0

    @classmethod
    def read(cls) -> tuple[float, int]:
        return getattr(cls._local, "seconds", 0.0), getattr(cls._local, "calls", 0)

    @classmethod
    def attach(cls, client: Any) -> None:
        client.meta.events.register("before-call.ec2", cls._before)
        client.meta.events.register("after-call.ec2", cls._after)
        client.meta.events.register("after-call-error.ec2", cls._after)

    @classmethod
    def _before(cls, **_: Any) -> None:
        cls._local.started = time.perf_counter()

    @classmethod
    def _after(cls, **_: Any) -> None:
        started = getattr(cls._local, "started", None)
        if started is not None:
            cls._local.seconds = getattr(cls._local, "seconds", 0.0) + time.perf_counter() - started
            cls._local.calls = getattr(cls._local, "calls", 0) + 1
            cls._local.started = None


class Clients:
    """boto3 EC2 clients, one per (region, endpoint); creating one costs ~50 ms."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, str], Any] = {}

    def ec2(self, config: ProviderConfig, region: str | None = None) -> Any:
        region = region or config.region
        if not region:
            raise ProviderError("missing required configuration: aws:region")
        key = (region, config.ec2_endpoint(), config.access_key)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                import boto3
                from botocore.config import Config

                client = boto3.session.Session().client(
                    "ec2", region_name=region, endpoint_url=key[1],
                    aws_access_key_id=config.access_key, aws_secret_access_key=config.secret_key,
                    config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                                  read_timeout=60, max_pool_connections=50),
                )
                ApiTimer.attach(client)
                self._clients[key] = client
        return client


# ---- tags, names, diffs, polling ---------------------------------------------------------------


def tags_all(config: ProviderConfig, tags: Any) -> Any:
    if contains_unknown(tags):
        return UNKNOWN
    return {**config.default_tags, **(tags or {})}


def tag_changes(old: dict[str, str], new: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """What to CreateTags (changed or new) and which keys to DeleteTags."""
    upserts = {k: v for k, v in new.items() if old.get(k) != v}
    removed = [k for k in old if k not in new]
    return upserts, removed


def auto_name(logical_name: str, seed: bytes) -> str:
    rng = random.Random(seed or None)
    return f"{logical_name}-{rng.getrandbits(28):07x}"


def prefixed_name(prefix: str) -> str:
    # Terraform's unique-id suffix: a timestamp plus a counter, 26 digits.
    return f"{prefix}{time.strftime('%Y%m%d%H%M%S', time.gmtime())}{time.time_ns() % 10**12:012d}"


def diff_props(olds: dict[str, Any], news: dict[str, Any], keys: set[str], replace_keys: set[str],
               ignore: set[str] = frozenset()) -> DiffResult:
    result = DiffResult()
    for key in sorted(keys - ignore):
        old, new = olds.get(key), news.get(key)
        if _norm(old) == _norm(new) and not contains_unknown(new):
            continue
        result.changed.append(key)
        if key in replace_keys:
            result.replaces.append(key)
    return result


def _norm(value: Any) -> Any:
    if value in ([], {}):
        return None
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if _norm(v) is not None}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def poll(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() >= deadline:
            raise ProviderError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def aws_error_code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
