"""The ResourceProvider gRPC servicer of the stand-in `pulumi-resource-aws` and its call log."""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2
from pulumi.runtime.proto.provider_pb2_grpc import ResourceProviderServicer

from provisioner.localcloud.aws_provider import fleet, launch_template
from provisioner.localcloud.aws_provider.shared import (
    PLUGIN_VERSION, ApiTimer, Clients, ProviderConfig, ProviderError, from_struct, tags_all, to_struct,
)

RESOURCES: dict[str, ModuleType] = {launch_template.TOKEN: launch_template, fleet.TOKEN: fleet}
LOG_ENV = "PROVISIONER_PROVIDER_LOG"

Kind = provider_pb2.PropertyDiff.Kind


@dataclass
class _Totals:
    calls: int = 0
    seconds: float = 0.0
    ec2_seconds: float = 0.0


class CallLog:
    """One JSON line per call (with the method's running totals) to $PROVISIONER_PROVIDER_LOG."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.totals: dict[str, _Totals] = {}

    def record(self, method: str, resource_type: str, name: str, seconds: float, error: str | None,
               ec2_seconds: float = 0.0, ec2_calls: int = 0) -> None:
        with self._lock:
            totals = self.totals.setdefault(method, _Totals())
            totals.calls += 1
            totals.seconds += seconds
            totals.ec2_seconds += ec2_seconds
            if not self.path:
                return
            line = {
                "ts": round(time.time(), 3), "pid": os.getpid(), "method": method, "type": resource_type,
                "name": name, "ms": round(seconds * 1000, 2), "ec2_ms": round(ec2_seconds * 1000, 2),
                "ec2_calls": ec2_calls, "ok": error is None,
                "total_calls": totals.calls, "total_ms": round(totals.seconds * 1000, 2),
                "total_ec2_ms": round(totals.ec2_seconds * 1000, 2),
            }
            if error:
                line["error"] = error[:2000]
            self._write(line)

    def write_summary(self) -> None:
        with self._lock:
            if self.path and self.totals:
                self._write({"ts": round(time.time(), 3), "pid": os.getpid(), "summary": self.summary()})

    def summary(self) -> dict[str, dict[str, float]]:
        return {m: {"calls": t.calls, "ms": round(t.seconds * 1000, 2), "ec2_ms": round(t.ec2_seconds * 1000, 2)}
                for m, t in sorted(self.totals.items())}

    def _write(self, line: dict[str, Any]) -> None:
        try:
            with open(self.path, "a") as fh:  # type: ignore[arg-type]
                fh.write(json.dumps(line) + "\n")
        except OSError:
            pass  # logging must never fail a stack update


def _type_and_name(request: Any) -> tuple[str, str]:
    resource_type = getattr(request, "type", "") or ""
    name = getattr(request, "name", "") or ""
    urn = getattr(request, "urn", "") or ""
    if urn and (not resource_type or not name):
        # urn:pulumi:<stack>::<project>::<parent$type>::<name>
        parts = urn.split("::")
        if len(parts) >= 4:
            resource_type = resource_type or parts[2].split("$")[-1]
            name = name or "::".join(parts[3:])
    return resource_type, name


def _timed(method: Callable) -> Callable:
    def wrapper(self: "AwsStandInProvider", request: Any, context: Any) -> Any:
        resource_type, name = _type_and_name(request)
        ApiTimer.reset()
        started = time.perf_counter()
        error: str | None = None
        try:
            return method(self, request, context)
        except ProviderError as err:
            error = str(err)
        except Exception:  # noqa: BLE001 - any bug must reach the engine as the operation's error
            error = traceback.format_exc()
        finally:
            ec2_seconds, ec2_calls = ApiTimer.read()
            self.log.record(method.__name__, resource_type, name, time.perf_counter() - started, error,
                            ec2_seconds, ec2_calls)
        context.abort(grpc.StatusCode.UNKNOWN, error)

    wrapper.__name__ = method.__name__
    return wrapper


class AwsStandInProvider(ResourceProviderServicer):
    def __init__(self, log_path: str | None = None) -> None:
        self.config = ProviderConfig()
        self.clients = Clients()
        self.log = CallLog(log_path if log_path is not None else os.environ.get(LOG_ENV))

    def _resource(self, request: Any) -> ModuleType:
        resource_type, _ = _type_and_name(request)
        module = RESOURCES.get(resource_type)
        if module is None:
            raise ProviderError(
                f"resource type {resource_type!r} is not served by the local stand-in aws provider "
                f"(it serves {sorted(RESOURCES)})"
            )
        return module

    # ---- plugin and provider config --------------------------------------------------------

    def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version=PLUGIN_VERSION)

    def GetSchema(self, request: Any, context: Any) -> Any:
        return provider_pb2.GetSchemaResponse(schema=json.dumps({"name": "aws", "version": PLUGIN_VERSION}))

    def Cancel(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()

    @_timed
    def CheckConfig(self, request: Any, context: Any) -> Any:
        return provider_pb2.CheckResponse(inputs=request.news)

    @_timed
    def DiffConfig(self, request: Any, context: Any) -> Any:
        same = from_struct(request.olds) == from_struct(request.news)
        changes = provider_pb2.DiffResponse.DIFF_NONE if same else provider_pb2.DiffResponse.DIFF_SOME
        return provider_pb2.DiffResponse(changes=changes)

    @_timed
    def Configure(self, request: Any, context: Any) -> Any:
        self.config = ProviderConfig.parse(dict(request.variables), from_struct(request.args))
        # No secrets and no preview: the engine then strips secrets before calling us (and marks
        # outputs of secret inputs secret itself) and previews by echoing inputs.
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=False,
                                              acceptResources=False, acceptOutputs=False)

    # ---- resources -------------------------------------------------------------------------

    @_timed
    def Check(self, request: Any, context: Any) -> Any:
        module = self._resource(request)
        _, name = _type_and_name(request)
        result = module.check(from_struct(request.olds), from_struct(request.news), name, bytes(request.randomSeed))
        failures = [provider_pb2.CheckFailure(property=f.property, reason=f.reason) for f in result.failures]
        return provider_pb2.CheckResponse(inputs=to_struct(result.inputs), failures=failures)

    @_timed
    def Diff(self, request: Any, context: Any) -> Any:
        module = self._resource(request)
        olds = from_struct(request.olds)
        old_inputs = from_struct(request.old_inputs) if request.HasField("old_inputs") else {}
        news = from_struct(request.news)
        ignore = {path.split(".")[0].split("[")[0] for path in request.ignoreChanges}
        result = module.diff(old_inputs or olds, news, ignore)
        if "tags" not in result.changed and "tags" not in ignore and "tagsAll" in olds \
                and tags_all(self.config, news.get("tags")) != olds["tagsAll"]:
            result.changed.append("tagsAll")  # e.g. aws:defaultTags changed: retag in place
        detailed: dict[str, Any] = {}
        base = old_inputs or olds
        for key in result.changed:
            replace = key in result.replaces
            if key == "tagsAll":  # computed from tags and config: always there on both sides
                kind = Kind.UPDATE
            elif base.get(key) is None:
                kind = Kind.ADD_REPLACE if replace else Kind.ADD
            elif news.get(key) is None:
                kind = Kind.DELETE_REPLACE if replace else Kind.DELETE
            else:
                kind = Kind.UPDATE_REPLACE if replace else Kind.UPDATE
            detailed[key] = provider_pb2.PropertyDiff(kind=kind, inputDiff=True)
        changes = provider_pb2.DiffResponse.DIFF_SOME if result.has_changes else provider_pb2.DiffResponse.DIFF_NONE
        return provider_pb2.DiffResponse(
            changes=changes, diffs=result.changed, replaces=result.replaces,
            deleteBeforeReplace=result.delete_before_replace, detailedDiff=detailed, hasDetailedDiff=True,
        )

    @_timed
    def Create(self, request: Any, context: Any) -> Any:
        module = self._resource(request)
        inputs = from_struct(request.properties)
        if request.preview:
            return provider_pb2.CreateResponse(id="", properties=request.properties)
        id_, outputs = module.create(self.clients, self.config, inputs)
        return provider_pb2.CreateResponse(id=id_, properties=to_struct(outputs))

    @_timed
    def Read(self, request: Any, context: Any) -> Any:
        module = self._resource(request)
        result = module.read(self.clients, self.config, request.id, from_struct(request.properties),
                             from_struct(request.inputs))
        if not result.id:
            return provider_pb2.ReadResponse(id="")
        return provider_pb2.ReadResponse(id=result.id, properties=to_struct(result.outputs),
                                         inputs=to_struct(result.inputs))

    @_timed
    def Update(self, request: Any, context: Any) -> Any:
        module = self._resource(request)
        if request.preview:
            return provider_pb2.UpdateResponse(properties=request.news)
        outputs = module.update(self.clients, self.config, request.id, from_struct(request.olds), from_struct(request.news))
        return provider_pb2.UpdateResponse(properties=to_struct(outputs))

    @_timed
    def Delete(self, request: Any, context: Any) -> Any:
        module = self._resource(request)
        module.delete(self.clients, self.config, request.id, from_struct(request.properties))
        return empty_pb2.Empty()
