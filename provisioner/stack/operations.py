"""Stack operations on the Pulumi Automation API: preview, apply, history, refresh.

The program is the fleet program, run inline; its only input, the desired node set, is
stored in the stack's config file (stacks/Pulumi.<stack>.yaml), so an operator's plain
`pulumi preview -s <stack>` in the project directory runs the same program on the same
input. Every preview and apply runs the policy packs.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml
from pulumi import automation as auto

from provisioner import toolchain
from provisioner.fleet import guardrails as guardrails_mod
from provisioner.fleet.desired import DesiredNodeSet
from provisioner.fleet.program import CONFIG_KEY, CONFIG_NAMESPACE, fleet_program
from provisioner.fleet.validation import parse
from provisioner.stack.changes import ChangeSet, EventCollector, UpdateRecord
from provisioner.stack.target import StackTarget

DESIRED_CONFIG = f"{CONFIG_NAMESPACE}:{CONFIG_KEY}"


HISTORY_PAGE = 1_000_000  # "all": the CLI pages history by 10 by default
HISTORY_READ_ATTEMPTS = 8


class StackOperationError(RuntimeError):
    """A stack operation failed; `changes` holds what the engine reported before failing."""

    def __init__(self, message: str, changes: ChangeSet | None = None):
        super().__init__(message)
        self.changes = changes or ChangeSet()


class PolicyViolationError(StackOperationError):
    pass


@dataclass(frozen=True)
class ApplyResult:
    version: int | None
    changes: ChangeSet
    message: str
    seconds: float
    outputs: dict

    def to_dict(self) -> dict:
        return {"version": self.version, "message": self.message, "seconds": round(self.seconds, 2),
                **self.changes.to_dict()}


class FleetStack:
    def __init__(self, target: StackTarget, log: Callable[[str], None] | None = None) -> None:
        self.target = target
        self.log = log or (lambda _msg: None)
        tool = toolchain.ensure(toolchain.FLEET_TOOLS, log=self.log)["pulumi"]
        self._env = target.env()
        self._stack = _past_torn_checkpoint(lambda: auto.create_or_select_stack(
            stack_name=target.stack,
            project_name=_project_name(target.project_dir),
            program=fleet_program,
            opts=auto.LocalWorkspaceOptions(
                work_dir=str(target.project_dir),
                env_vars=self._env,
                secrets_provider="passphrase",
                pulumi_command=auto.PulumiCommand(root=str(tool.home), skip_version_check=False),
            ),
        ))

    @property
    def name(self) -> str:
        return self.target.stack

    @property
    def env(self) -> dict[str, str]:
        return dict(self._env)

    # ---- desired node set in stack config ----

    def settings_path(self) -> Path:
        # The SDK's stack_settings() ignores Pulumi.yaml's stackConfigDir; the CLI honours it.
        return self.target.stacks_dir / f"Pulumi.{self.target.stack}.yaml"

    def _settings(self) -> dict:
        path = self.settings_path()
        return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}

    def current_desired(self) -> DesiredNodeSet | None:
        raw = (self._settings().get("config") or {}).get(DESIRED_CONFIG)
        return parse(raw) if raw else None

    def _write_config(self, desired: DesiredNodeSet, path: Path | None = None) -> None:
        """Write the desired node set and provider config into the stack settings (or a copy at `path`)."""
        settings = self._settings()
        config = dict(settings.get("config") or {})
        config.update(self.target.aws_config())
        config[DESIRED_CONFIG] = desired.to_dict()
        settings["config"] = config
        path = path or self.settings_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Atomic: operators, `pulumi preview` and `provisioner explain` read this file at any time.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(yaml.safe_dump(settings, sort_keys=False))
        os.replace(tmp, path)

    def guardrails(self) -> guardrails_mod.Guardrails:
        return guardrails_mod.for_stack(self.target.stacks_dir, self.target.stack)

    def _policy_args(self, tmp: Path) -> dict:
        config = self.guardrails().write_policy_config(tmp / "policy-config.json")
        return {"policy_packs": [str(p) for p in self.target.policy_packs],
                "policy_pack_configs": [str(config)] * len(self.target.policy_packs)}

    # ---- operations ----

    def preview(self, desired: DesiredNodeSet) -> ChangeSet:
        """What applying `desired` would change, with policy results. Touches neither state nor config."""
        with tempfile.TemporaryDirectory(prefix="provisioner-preview-") as tmp:
            tmp_path = Path(tmp)
            config_file = tmp_path / f"Pulumi.{self.target.stack}.yaml"
            self._write_config(desired, config_file)
            events = EventCollector(desired)
            try:
                self._stack.preview(on_event=events, config_file=str(config_file), diff=False,
                                    **self._policy_args(tmp_path))
            except auto.errors.CommandError as err:
                raise self._failure("preview", err, events) from None
            return events.result()

    def apply(self, desired: DesiredNodeSet, message: str) -> ApplyResult:
        """Preview with policies, then run the update recorded in history with `message`.

        A policy violation stops everything before the config or any resource is touched.
        """
        start = time.monotonic()
        preview = self.preview(desired)
        mandatory = [v for v in preview.violations if v.level == "mandatory"]
        if mandatory:
            raise PolicyViolationError(_violation_text(mandatory), preview)
        if not preview.has_changes and self.current_desired() == desired:
            return ApplyResult(None, preview, message, time.monotonic() - start, {})
        self._write_config(desired)
        events = EventCollector(desired)
        with tempfile.TemporaryDirectory(prefix="provisioner-up-") as tmp:
            try:
                result = self._stack.up(message=message, on_event=events, **self._policy_args(Path(tmp)))
            except auto.errors.CommandError as err:
                raise self._failure("update", err, events) from None
        outputs = {k: v.value for k, v in result.outputs.items()}
        version = result.summary.version or len(self._all_history())
        return ApplyResult(version, events.result(), message, time.monotonic() - start, outputs)

    def refresh(self, clear_pending_creates: bool = False) -> ChangeSet:
        events = EventCollector()
        try:
            self._stack.refresh(on_event=events, clear_pending_creates=clear_pending_creates or None)
        except auto.errors.CommandError as err:
            raise self._failure("refresh", err, events) from None
        return events.result()

    def _all_history(self) -> list:
        """Every entry, newest first: `pulumi stack history` returns only the newest 10 unless paged."""
        return _past_torn_checkpoint(lambda: self._stack.history(page_size=HISTORY_PAGE, page=1))

    def history(self, limit: int | None = None) -> list[UpdateRecord]:
        """Newest first. The DIY backend reports no version numbers, so they are counted here."""
        entries = self._all_history()
        total = len(entries)
        records = [
            UpdateRecord(version=h.version or total - i, kind=h.kind, result=h.result, message=h.message or "",
                         start_time=h.start_time, end_time=h.end_time,
                         resource_changes=dict(h.resource_changes or {}))
            for i, h in enumerate(entries)
        ]
        return records[:limit] if limit else records

    def desired_history(self, limit: int | None = None) -> list[tuple[UpdateRecord, DesiredNodeSet | None]]:
        """Newest first: each update with the desired node set its config held (None when the entry has
        none or it no longer parses). One `pulumi stack history` call; versions counted as in `history`."""
        entries = self._all_history()
        total = len(entries)
        out: list[tuple[UpdateRecord, DesiredNodeSet | None]] = []
        for i, h in enumerate(entries[:limit] if limit else entries):
            record = UpdateRecord(version=h.version or total - i, kind=h.kind, result=h.result,
                                  message=h.message or "", start_time=h.start_time, end_time=h.end_time,
                                  resource_changes=dict(h.resource_changes or {}))
            config = dict(h.config or {})
            raw = config.get(DESIRED_CONFIG)
            if isinstance(raw, dict) and "value" in raw:  # the CLI's JSON: {"value": ..., "secret": ..., "object": ...}
                config[DESIRED_CONFIG] = raw["value"]
            try:
                desired = desired_from_history_config(config)
            except Exception:  # noqa: BLE001 - an entry written by an older format explains nothing
                desired = None
            out.append((record, desired))
        return out

    def outputs(self) -> dict:
        return {k: v.value for k, v in self._stack.outputs().items()}

    def export(self) -> dict:
        return self._stack.export_stack().deployment

    def import_state(self, deployment: dict) -> None:
        self._stack.import_stack(auto.Deployment(version=3, deployment=deployment))

    def cancel(self) -> None:
        self._stack.cancel()

    def _failure(self, what: str, err: auto.errors.CommandError, events: EventCollector) -> StackOperationError:
        changes = events.result()
        mandatory = [v for v in changes.violations if v.level == "mandatory"]
        if mandatory:
            return PolicyViolationError(_violation_text(mandatory), changes)
        detail = "\n".join(events.diagnostics) or _stderr_tail(err)
        return StackOperationError(f"stack {what} failed on {self.target.stack}: {detail}", changes)


def _violation_text(violations) -> str:
    lines = [f"[{v.pack}/{v.policy}] {v.message}" for v in violations]
    return "rejected by policy:\n  " + "\n  ".join(lines)


def _stderr_tail(err: auto.errors.CommandError) -> str:
    text = str(err)
    lines = [ln for ln in text.splitlines() if ln.strip() and "warning:" not in ln]
    return "\n".join(lines[-12:])


def _past_torn_checkpoint(read):
    """`read()`, again if it failed on a half-written checkpoint. On the file backend an update
    rewrites the checkpoint while it runs, and a reader (selecting the stack, reading its
    history) can catch it half-written ("failed to load checkpoint: EOF")."""
    for attempt in range(HISTORY_READ_ATTEMPTS):
        try:
            return read()
        except auto.errors.CommandError as err:
            if "failed to load checkpoint" not in str(err) or attempt == HISTORY_READ_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _project_name(project_dir: Path) -> str:
    data = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    return data["name"]


def desired_from_history_config(config: dict) -> DesiredNodeSet | None:
    raw = config.get(DESIRED_CONFIG)
    if raw is None:
        return None
    value = raw.value if hasattr(raw, "value") else raw
    return parse(json.loads(value) if isinstance(value, str) else value)
