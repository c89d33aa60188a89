"""The disruption controller: a decision pass every few seconds (`methods.decide`), and the commands
it starts, each step a stack update through the provisioning reconciler (one writer of the stack):

    launch replacements (if any) -> wait until they are Ready -> mark the nodes draining ->
    drain (Eviction API, PDBs respected) -> remove them from the stack -> lift the finalizer, delete the Node

One voluntary command runs at a time. Nodes someone deleted (`kubectl delete node`: our finalizer
holds them) and nodes the stack says are draining (a drain interrupted by a restart) are terminated
alongside, whatever the budgets say.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from provisioner.disruption import emptiness, methods
from provisioner.disruption.methods import Action
from provisioner.fleet.desired import DesiredNodeSet
from provisioner.state import view
from provisioner.termination import finalizer, lifecycle
from provisioner.termination.drain import drain

LOG = logging.getLogger("provisioner.disruption")


@dataclass(frozen=True)
class DisruptionConfig:
    interval_seconds: float = 5.0
    min_savings_per_hour: float = 0.0
    churn_guard_seconds: float = 600.0  # a replacement is not consolidated again within this time
    replacement_ready_timeout_seconds: float = 900.0
    consolidation_deadline_seconds: float = 60.0


@dataclass
class Outcome:
    """A finished command: for logs, metrics, tests and the demo summary."""

    method: str
    nodes: tuple[str, ...]
    replacements: tuple[str, ...] = ()
    savings_per_hour: float = 0.0
    versions: list[int] = field(default_factory=list)
    error: str = ""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Disruptor:
    def __init__(self, cfg: DisruptionConfig, reconciler: Any, kube: Any, reporter: Any, metrics: Any,
                 now: Callable[[], datetime] = _utcnow) -> None:
        self.cfg = cfg
        self.rec = reconciler
        self.kube = kube
        self.reporter = reporter
        self.metrics = metrics
        self.now = now
        self.empty_since: dict[str, datetime] = {}
        self.stable: dict[str, tuple[frozenset[str], datetime]] = {}
        self.guard: dict[str, datetime] = {}  # node -> launched as a replacement at
        self.jobs: dict[str, threading.Thread] = {}  # node -> the thread terminating it
        self.voluntary: threading.Thread | None = None
        self.outcomes: list[Outcome] = []
        self.last: methods.PassResult | None = None
        self.passes = 0  # decision passes run (the demo waits for quiet ones)
        self._guard_restored = False
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # ---- the loop ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event, is_leader: Callable[[], bool]) -> None:
        self._stop = stop
        while not stop.wait(self.cfg.interval_seconds):
            if not (is_leader() and self.rec.started):
                continue
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the next pass tries again
                LOG.exception("disruption pass failed")

    def busy(self) -> bool:
        with self._lock:
            return any(t.is_alive() for t in self.jobs.values()) or bool(self.voluntary and self.voluntary.is_alive())

    def _restore_guard(self) -> None:
        """The churn guard outlives a restart or a leader change: replacements come from the stack history."""
        with self.rec.lock:
            launched = lifecycle.replacements_launched(self.rec.fleet.history(limit=200))
        for name, when in launched.items():
            at = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
            self.guard.setdefault(name, at)
        self._guard_restored = True

    def tick(self) -> methods.PassResult | None:
        if not self._guard_restored:
            self._restore_guard()
        store = self.rec.store
        nodes, pods = store.list("nodes"), store.list("pods")
        now = self.now()
        desired = self.rec.desired
        names = {n.name: n for n in desired.nodes}
        self._ensure_finalizers(nodes, names)
        self._terminate_deleted(nodes, names)
        self._resume_draining(desired)
        self.empty_since = emptiness.track(self.empty_since, nodes, pods, now)
        self.stable = methods.track_stable(self.stable, methods.workload_sets(nodes, pods), now)
        if self.rec.cfg.mode != "apply" or (self.voluntary and self.voluntary.is_alive()):
            return None
        with self.rec.lock:
            world, extra = self.rec.world({})
        guardrails = self.rec.guardrails()
        catalog = self.rec.catalogs.get(extra["zones"], guardrails)
        registered = {n["metadata"]["name"] for n in nodes}
        settled = (not any(view.is_unschedulable(p) for p in pods)
                   and all(n in registered for n in names))
        guard = {n: f"launched as a replacement at {t:%H:%M:%S}" for n, t in self.guard.items()
                 if now - t < timedelta(seconds=self.cfg.churn_guard_seconds)}
        with self._lock:
            disrupting = frozenset(k for k, t in self.jobs.items() if t.is_alive())
        t0 = time.perf_counter()
        result = methods.decide(methods.PassInput(
            world=world, catalog=catalog, now=now, empty_since=self.empty_since,
            stable_since={k: v[1] for k, v in self.stable.items()}, guarded=guard, disrupting=disrupting,
            settled=settled, guardrails=guardrails, unavailable=self.rec.unavailable, region=self.rec.cfg.region,
            min_savings_per_hour=self.cfg.min_savings_per_hour,
            consolidation_deadline_seconds=self.cfg.consolidation_deadline_seconds))
        self.metrics.disruption_pass_seconds.observe(time.perf_counter() - t0)
        self.last = result
        self.passes += 1
        by_budget: dict[str, list[methods.Blocked]] = {}
        for b in result.blocked:
            self.metrics.disruption_blocked.labels(b.reason).inc()
            if b.node:
                self.reporter.node_event(b.node, "DisruptionBlocked", b.message)
            if b.pool and b.reason == "Budget":
                by_budget.setdefault(b.pool, []).append(b)
        for pool, held in by_budget.items():
            self.reporter.nodepool_event(pool, "DisruptionBlocked", _pool_blocked_message(held))
        if result.action is not None:
            self._start(result.action)
        return result

    # ---- involuntary: deleted Nodes, interrupted drains ------------------------------------------

    def _ensure_finalizers(self, nodes: list[dict], desired: dict) -> None:
        for n in nodes:
            name = n["metadata"]["name"]
            if name in desired and view.is_ours(n) and not n["metadata"].get("deletionTimestamp") \
                    and not finalizer.has(n):
                finalizer.add(self.kube, name)

    def _terminate_deleted(self, nodes: list[dict], desired: dict) -> None:
        for n in nodes:
            name = n["metadata"]["name"]
            if not (n["metadata"].get("deletionTimestamp") and finalizer.has(n)) or self._running(name):
                continue
            d = desired.get(name)
            if d is None:  # not in the stack (any more): nothing left to remove
                finalizer.lift(self.kube, name)
            elif d.state == "active":
                self.reporter.node_event(name, "Terminating", f"Node {name} was deleted: draining it, then removing "
                                         "its instance through a stack update")
                self._spawn([name], lambda: self._execute(Action("Deleted", (name,), detail="Node deleted")))

    def _resume_draining(self, desired: DesiredNodeSet) -> None:
        for n in desired.nodes:
            if n.state == "draining" and not self._running(n.name):
                LOG.info("resuming the drain of %s (%s)", n.name, n.reason)
                self._spawn([n.name], lambda n=n: self._drain_and_remove((n.name,), n.reason or "Resumed", None))

    def _running(self, name: str) -> bool:
        with self._lock:
            t = self.jobs.get(name)
            return bool(t and t.is_alive())

    def _spawn(self, names: list[str], target: Callable[[], Any]) -> threading.Thread:
        t = threading.Thread(target=target, name=f"disrupt-{names[0]}", daemon=True)
        with self._lock:
            for n in names:
                self.jobs[n] = t
        t.start()
        return t

    # ---- a command --------------------------------------------------------------------------------

    def _start(self, action: Action) -> None:
        LOG.info("disruption: %s %s (%s, saves $%.2f/h)", action.method, ", ".join(action.nodes), action.detail,
                 action.savings_per_hour)
        self.metrics.disruption_decisions.labels(action.method, "replace" if action.replacements else "delete").inc()
        for n in action.nodes:
            self.reporter.node_event(n, "DisruptionDecided", f"{action.method}: {action.detail}; "
                                     f"saves ${action.savings_per_hour:.2f}/h")
        self.voluntary = self._spawn(list(action.nodes), lambda: self._execute(action))

    def _execute(self, action: Action) -> Outcome:
        from provisioner.stack.operations import StackOperationError

        outcome = Outcome(action.method, action.nodes, tuple(n.name for n in action.replacements),
                          action.savings_per_hour)
        try:
            launch_version = None
            if action.replacements:
                launch_version = self._launch(action, outcome)
                if launch_version is False:
                    return outcome
            present = [n for n in action.nodes if n in {d.name for d in self.rec.desired.nodes}]
            started = self.rec.record(
                lambda d: lifecycle.mark_draining(d, present, action.method),
                lifecycle.draining_message(present, action.method,
                                           None if action.method == "Deleted" else action.savings_per_hour,
                                           outcome.replacements, launch_version or None))
            outcome.versions.append(started.version)
            self._drain_and_remove(tuple(present), action.method, started.version, outcome)
            self.metrics.disruption_savings.labels(action.method).inc(max(0.0, action.savings_per_hour))
        except StackOperationError as err:
            outcome.error = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            LOG.warning("disruption %s of %s failed: %s", action.method, ", ".join(action.nodes), err)
            for n in action.nodes:
                self.reporter.node_event(n, "DisruptionFailed", f"{action.method}: {outcome.error}", "Warning")
        except Exception as err:  # noqa: BLE001 - reported; a draining node is resumed by the next pass
            outcome.error = repr(err)
            LOG.exception("disruption %s of %s failed", action.method, ", ".join(action.nodes))
        finally:
            self.outcomes.append(outcome)
        return outcome

    def _launch(self, action: Action, outcome: Outcome) -> int | bool | None:
        """Launch the replacements and wait until they are Ready; False (and undone) if they are not."""
        names = [n.name for n in action.replacements]
        applied = self.rec.record(lambda d: _with_added(d, action),
                                  lifecycle.launch_message(names, action.nodes, action.method, action.detail))
        outcome.versions.append(applied.version)
        now = self.now()
        for n in names:
            self.guard[n] = now
        deadline = time.monotonic() + self.cfg.replacement_ready_timeout_seconds
        missing = [n for n in names if n not in self.rec.launched]
        while not missing and not self._stop.is_set() and time.monotonic() < deadline:
            ready = {o["metadata"]["name"] for o in self.rec.store.list("nodes") if view.is_ready(o)}
            if all(n in ready for n in names):
                return applied.version
            self._stop.wait(1.0)
        why = (f"{', '.join(missing)} launched no instance" if missing
               else f"replacement not Ready within {self.cfg.replacement_ready_timeout_seconds:.0f}s")
        outcome.error = why
        self.rec.record(lambda d: lifecycle.without_node(d, names),
                        f"{lifecycle.PREFIX} abandoned replacing {', '.join(action.nodes)} ({action.method}): {why}")
        for n in action.nodes:
            self.reporter.node_event(n, "DisruptionFailed", f"{action.method}: {why}", "Warning")
        return False

    def _drain_and_remove(self, nodes: tuple[str, ...], reason: str, drain_version: int | None,
                          outcome: Outcome | None = None) -> None:
        with self.rec.lock:
            pools = {p.name: p for p in self.rec.world({})[0].nodepools}
        desired = {n.name: n for n in self.rec.desired.nodes}

        def one(name: str) -> Any:
            pool = pools.get(desired[name].node_pool) if name in desired else None
            grace = pool.termination_grace_period if pool else None

            def log(text: str) -> None:
                if "answered 429" in text:
                    pod = text.split("eviction of ", 1)[-1].split(" answered", 1)[0]
                    self.reporter.node_event(name, "DrainBlocked",
                                             f"eviction of {pod} refused by a PodDisruptionBudget: retrying")
            self.reporter.node_event(name, "Draining", f"{reason}: evicting pods (update #{drain_version})"
                                     if drain_version else f"{reason}: evicting pods")
            return drain(self.kube, name, termination_grace_period=grace, log=log)

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(nodes)))) as pool:
            results = list(pool.map(one, nodes))
        for r in results:
            if r.remaining:
                self.reporter.node_event(r.node, "DrainTimedOut", f"terminationGracePeriod passed with "
                                         f"{len(r.remaining)} pods left: {', '.join(r.remaining[:5])}", "Warning")
        if drain_version is None:  # a resumed drain: its update number is in the history
            with self.rec.lock:  # the file backend's checkpoint is unreadable while an update writes it
                drain_version = lifecycle.drain_version_in(self.rec.fleet.history(limit=50), nodes[0])
        removed = self.rec.record(lambda d: lifecycle.without_node(d, nodes),
                                  lifecycle.removed_message(nodes, reason, drain_version))
        if outcome is not None:
            outcome.versions.append(removed.version)
        for name in nodes:
            finalizer.lift(self.kube, name)
            lifecycle.delete_node(self.kube, name)
            self.reporter.node_event(name, "Removed", f"{reason}: instance terminated in stack update "
                                     f"#{removed.version}")
        LOG.info("removed %s (%s) in update #%s", ", ".join(nodes), reason, removed.version)


def _pool_blocked_message(held: list[methods.Blocked]) -> str:
    """One line per NodePool and pass that stays the same while the same nodes wait: an Event per
    held node would alternate the NodePool's last message and send Events on every pass."""
    first = min(held, key=lambda b: (b.node or "", b.message))
    more = len(held) - 1
    return first.message + (f" (and {more} more node{'s' * (more > 1)})" if more else "")


def _with_added(desired: DesiredNodeSet, action: Action) -> DesiredNodeSet:
    """`desired` plus the replacements, on the NodeClass settings of now (the others stay pinned)."""
    from provisioner.provisioning import planner

    shadow = planner.World(pods=(), nodes=(), nodepools=(), nodeclasses=(), settings=dict(action.settings),
                           desired=desired)
    node_classes, kept, added = planner.pin_settings(shadow, list(desired.nodes),
                                                     [replace(r, settings="") for r in action.replacements])
    return DesiredNodeSet(desired.cluster, desired.region, node_classes, tuple(kept + added))
