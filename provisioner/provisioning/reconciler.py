"""The provisioning loop: watch pending pods, batch them, decide, apply one stack update, report.

Decisions are the pure `planner.decide`; this module does the I/O around it: the stack
(apply / preview / recover), EC2 through the resolver, Kubernetes Events and NodePool status.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from provisioner.catalog.unavailable import UnavailableOfferings
from provisioner.fleet.desired import DesiredNodeSet
from provisioner.fleet.guardrails import Guardrails
from provisioner.provisioning import planner, stackview
from provisioner.provisioning.batcher import Batcher
from provisioner.provisioning.capacity_errors import capacity_failures
from provisioner.provisioning.config import LoopConfig
from provisioner.provisioning.metrics import Metrics
from provisioner.provisioning.report import Reporter, condition
from provisioner.provisioning.resources import CatalogCache, Resolver, load_custom_resources
from provisioner.state import view
from provisioner.state.store import Store

LOG = logging.getLogger("provisioner.loop")
MIN_TICK_SECONDS = 0.2
STATUS_EVERY_SECONDS = 30.0
PROPOSE_SYNC_SECONDS = 10.0


@dataclass
class RoundResult:
    """One pass that acted (or tried to): for logs, tests and the benchmark's time split."""

    pending: int = 0
    batch_seconds: float = 0.0
    solve_seconds: float = 0.0
    preview_seconds: float = 0.0  # the policy-checked preview inside apply
    apply_seconds: float = 0.0  # the update itself (preview excluded)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    version: int | None = None
    message: str = ""
    error: str = ""
    unschedulable: int = 0
    replans: int = 0


class Reconciler:
    def __init__(self, cfg: LoopConfig, store: Store, fleet: Any, ec2: Any, reporter: Reporter | None,
                 metrics: Metrics | None = None, guardrails: Callable[[], Guardrails] | None = None,
                 recover: Callable[[], Any] | None = None, proposals: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.store = store
        self.fleet = fleet
        self.reporter = reporter
        self.metrics = metrics or Metrics()
        self.guardrails = guardrails or (lambda: fleet.guardrails())
        self._recover = recover
        self.proposals = proposals
        self.clock = clock
        self.resolver = Resolver(ec2)
        self.catalogs = CatalogCache(cfg.region)
        self.unavailable = UnavailableOfferings(cfg.unavailable_ttl_seconds, clock)
        self.batcher = Batcher(cfg.batch_idle_seconds, cfg.batch_max_seconds)
        self.desired = DesiredNodeSet(cfg.cluster, cfg.region, {}, ())
        self.launched: dict[str, planner.Launched] = {}
        self.first_seen: dict[str, float] = {}
        self.ready_since: dict[str, float] = {}
        self.nominated: dict[str, tuple[str, float]] = {}
        self.hopeless: dict[str, tuple[str, tuple, float]] = {}
        self.backoff_until = 0.0
        self.backoff = cfg.backoff_initial_seconds
        self.retry = False
        self.last_error = ""
        self.rounds: list[RoundResult] = []
        self.last_tick = 0.0
        self.started = False
        self._preview_seconds = 0.0
        self._conditions: dict[str, dict[str, dict]] = {}
        self._proposal: tuple[set[str], float] = (set(), 0.0)
        self._last_sync = 0.0
        self._last_status = 0.0
        # One writer of the stack: provisioning rounds and the disruption controller's updates
        # (`record`) take this lock, so they never race for the stack or for `self.desired`.
        self.lock = threading.RLock()
        self._time_previews()

    def _time_previews(self) -> None:
        """FleetStack.apply previews first (policies) then updates: time the preview on its own for the
        time split by shadowing the instance's `preview` (apply calls self.preview)."""
        inner = getattr(self.fleet, "preview", None)
        if inner is None:
            return

        def timed(desired):
            t0 = time.perf_counter()
            try:
                return inner(desired)
            finally:
                self._preview_seconds += time.perf_counter() - t0

        self.fleet.preview = timed

    # ---- start-up -------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover the stack (stale lock, pending operations, orphans), then read what it holds."""
        if self._recover is not None:
            report = self._recover()
            if getattr(report, "anything", False):
                LOG.info("recovered stack %s: %s", self.fleet.name, report.to_dict())
        self.sync_from_stack()
        self.started = True

    def sync_from_stack(self) -> None:
        config_desired = self.fleet.current_desired()
        nodes = stackview.stack_nodes(self.fleet.export(), config_desired)
        self.desired = stackview.recorded(config_desired, nodes, self.cfg.cluster, self.cfg.region)
        self.launched = {k: v for k, v in nodes.items() if v is not None}
        now = self.clock()
        for n in self.desired.nodes:
            self.first_seen.setdefault(n.name, now)

    # ---- one tick -------------------------------------------------------------------------------

    def _api_generation(self) -> tuple:
        objs = self.store.list("nodepools") + self.store.list("nodeclasses")
        return tuple(sorted((o["metadata"]["name"], o["metadata"].get("resourceVersion", "")) for o in objs))

    def _unhandled(self, now: float) -> tuple[set[str], int]:
        nodes = {n["metadata"]["name"]: n for n in self.store.list("nodes")}
        for name, node in nodes.items():
            if view.is_ready(node):
                self.ready_since.setdefault(name, now)
        desired_names = {n.name for n in self.desired.nodes} | self._proposed_names(now)
        gen = self._api_generation()
        pending = [p for p in self.store.list("pods") if view.is_unschedulable(p)]
        out = set()
        for p in pending:
            key = view.pod_key(p)
            nom = self.nominated.get(key)
            if nom and (nom[0] in desired_names or nom[0] in nodes):
                since = self.ready_since.get(nom[0])
                if since is None or now - since < self.cfg.nomination_grace_seconds:
                    continue
            hope = self.hopeless.get(key)
            if hope and hope[1] == gen and now - hope[2] < self.cfg.hopeless_recheck_seconds:
                continue
            out.add(key)
        self.metrics.pending_pods.set(len(pending))
        return out, len(pending)

    def expired(self, now: float) -> dict[str, str]:
        registered = {n["metadata"]["name"] for n in self.store.list("nodes")}
        out = {}
        for n in self.desired.nodes:
            if n.name in registered:
                continue
            age = now - self.first_seen.setdefault(n.name, now)
            if n.name not in self.launched and age > self.cfg.launch_timeout_seconds:
                out[n.name] = f"not launched within {self.cfg.launch_timeout_seconds / 60:g}m"
            elif n.name in self.launched and age > self.cfg.registration_timeout_seconds:
                out[n.name] = f"not registered within {self.cfg.registration_timeout_seconds / 60:g}m"
        return out

    def tick(self) -> RoundResult | None:
        """Look once; run a round when a batch is ready, a node expired, or a retry is due."""
        now = self.clock()
        self.last_tick = now
        unhandled, _ = self._unhandled(now)
        self.batcher.observe(unhandled, now)
        expired = self.expired(now)
        if now < self.backoff_until:
            return None
        if not (self.batcher.ready(now) or expired or (self.retry and unhandled)):
            return None
        batch_seconds = (now - self.batcher.started) if self.batcher.started is not None else 0.0
        self.batcher.reset()
        with self.lock:
            result = self.round(expired)
        result.batch_seconds = batch_seconds
        self.metrics.batch_seconds.observe(batch_seconds)
        self.metrics.batch_size.observe(result.pending)
        self.rounds.append(result)
        LOG.info("round %s", json.dumps({k: round(v, 3) if isinstance(v, float) else v
                                         for k, v in asdict(result).items() if k not in ("added", "removed")}
                                        | {"added": len(result.added), "removed": len(result.removed)}))
        return result

    def wait_hint(self) -> float:
        now = self.clock()
        hint = self.batcher.wait_hint(now)
        if self.backoff_until > now:
            hint = max(hint, min(self.backoff_until - now, 1.0))
        return min(hint, 1.0)

    # ---- a round ----------------------------------------------------------------------------------

    def world(self, expired: dict[str, str]) -> tuple[planner.World, dict[str, Any]]:
        """What the planner (and the disruption pass) decide from; call with `lock` held."""
        return self._world(expired)

    def _world(self, expired: dict[str, str]) -> tuple[planner.World, dict[str, Any]]:
        pool_objs, class_objs = self.store.list("nodepools"), self.store.list("nodeclasses")
        pools, classes, problems = load_custom_resources(pool_objs, class_objs)
        versions = {o["metadata"]["name"]: o["metadata"].get("resourceVersion", "") for o in class_objs}
        settings = self.resolver.settings(classes, versions)
        for name, problem in problems.items():
            kind, _, obj = name.partition("/")
            if kind == "NodePool" and self.reporter:
                self.reporter.nodepool_event(obj, "InvalidNodePool", problem, "Warning")
        for pool in pools:
            if pool.node_class_ref not in settings and self.reporter:
                why = self.resolver.problems.get(pool.node_class_ref, f"NodeClass {pool.node_class_ref} not found")
                self.reporter.nodepool_event(pool.name, "NodeClassNotReady", why, "Warning")
        world = planner.World(
            pods=tuple(self.store.list("pods")), nodes=tuple(self.store.list("nodes")), nodepools=tuple(pools),
            nodeclasses=tuple(classes), settings=settings, desired=self.desired, launched=dict(self.launched),
            expired=expired, daemonsets=tuple(self.store.list("daemonsets")), pvcs=tuple(self.store.list("pvcs")),
            pvs=tuple(self.store.list("pvs")))
        zones = tuple(sorted({z for s in settings.values() for z in s.subnets}))
        return world, {"zones": zones}

    def round(self, expired: dict[str, str]) -> RoundResult:
        result = RoundResult()
        for attempt in range(self.cfg.max_replans + 1):
            result.replans = attempt
            world, extra = self._world(expired)
            guardrails = self.guardrails()
            planning = guardrails if self.cfg.planner_guardrails else Guardrails()
            catalog = self.catalogs.get(extra["zones"], planning)
            t0 = time.perf_counter()
            decision = planner.decide(world, catalog, planning, self.unavailable, self.cfg.region)
            result.solve_seconds += time.perf_counter() - t0
            self.metrics.solve_seconds.observe(time.perf_counter() - t0)
            result.pending = decision.pending
            self._report_unhelpable(decision)
            if not decision.changes:
                self._nominate(decision, None)
                self._succeeded()
                return result
            result.message = decision.message
            if self.cfg.mode == "propose":
                self._propose(decision, result)
                return result
            outcome = self._apply(decision, result)
            if outcome != "replan":
                return result
            expired = {k: v for k, v in expired.items() if any(n.name == k for n in self.desired.nodes)}
        return result

    def _apply(self, decision: planner.Decision, result: RoundResult) -> str:
        from provisioner.stack.operations import PolicyViolationError, StackOperationError

        LOG.info("applying: %s", decision.message)
        self._preview_seconds = 0.0
        t0 = time.perf_counter()
        try:
            applied = self.fleet.apply(decision.desired, decision.message)
        except PolicyViolationError as err:
            self._failed("PolicyRejected", str(err), decision, result, t0, "policy")
            return "done"
        except StackOperationError as err:
            text = str(err)
            offerings = capacity_failures(text)
            self._after_failure()
            if offerings:
                for o in offerings:
                    self.unavailable.mark(o.instance_type, o.zone, o.capacity_type)
                self.metrics.unavailable.set(len(self.unavailable))
                self.metrics.update_failures.labels("capacity").inc()
                result.apply_seconds += time.perf_counter() - t0
                LOG.warning("capacity error, re-planning at once without %s",
                            ", ".join(f"{o.instance_type}/{o.zone}/{o.capacity_type}" for o in offerings))
                return "replan"
            self._failed("StackUpdateFailed", text, decision, result, t0, "engine")
            return "done"
        seconds = time.perf_counter() - t0
        result.preview_seconds += self._preview_seconds
        result.apply_seconds += seconds - self._preview_seconds
        self.metrics.update_seconds.observe(seconds)
        self.metrics.updates.labels("succeeded" if applied.version else "no-op").inc()
        result.version = applied.version
        result.added = [n.name for n in decision.added]
        result.removed = list(decision.removed)
        self.desired = decision.desired
        self._launched_from_outputs(applied.outputs)
        now = self.clock()
        for n in decision.added:
            self.first_seen[n.name] = now
        for n in decision.removed:
            self.first_seen.pop(n, None)
        empty = [n.name for n in decision.added if n.name not in self.launched]
        if empty:  # a fleet that launched nothing without failing the update: treat like a capacity error
            for name in empty:
                node = self.desired.node(name)
                for t in node.instance_types:
                    self.unavailable.mark(t, node.zones[0], node.capacity_type)
            self.desired = self.desired.with_nodes([n for n in self.desired.nodes if n.name not in empty])
        self._nominate(decision, applied.version)
        self._succeeded()
        self._report_status(decision)
        LOG.info("stack update #%s: %s (%.1fs)", applied.version, decision.message, seconds)
        return "done"

    def record(self, change: Callable[[DesiredNodeSet], DesiredNodeSet], message: str) -> Any:
        """A stack update made for another controller (disruption): `change` maps the current desired
        node set to the next. Serialised with provisioning rounds; raises what `fleet.apply` raises
        (after recovering the stack), so the caller decides what a failure means for its command."""
        from provisioner.stack.operations import StackOperationError

        with self.lock:
            desired = change(self.desired)
            t0 = time.perf_counter()
            try:
                applied = self.fleet.apply(desired, message)
            except StackOperationError:
                self.metrics.updates.labels("failed").inc()
                self._after_failure()
                raise
            self.metrics.update_seconds.observe(time.perf_counter() - t0)
            self.metrics.updates.labels("succeeded" if applied.version else "no-op").inc()
            self.desired = desired
            self._launched_from_outputs(applied.outputs)
            now = self.clock()
            names = {n.name for n in desired.nodes}
            for name in names:
                self.first_seen.setdefault(name, now)
            for name in [k for k in self.first_seen if k not in names]:
                del self.first_seen[name]
            LOG.info("stack update #%s: %s", applied.version, message)
            return applied

    def _launched_from_outputs(self, outputs: dict) -> None:
        zones = {n.name: n.zones[0] for n in self.desired.nodes}
        launched = {}
        for name, info in (outputs.get("nodes") or {}).items():
            sets = [s for s in info.get("instances") or [] if s.get("instanceIds")]
            if sets:
                ct = "spot" if sets[0].get("lifecycle") == "spot" else "on-demand"
                launched[name] = planner.Launched(sets[0].get("instanceType", ""), ct, zones.get(name, ""))
        self.launched = launched

    def _after_failure(self) -> None:
        """Nothing half-applied stays unaccounted: clear the lock/pending ops, terminate orphans, re-read the state."""
        try:
            if self._recover is not None:
                self._recover()
            self.sync_from_stack()
        except Exception as err:  # noqa: BLE001 - retried on the next round
            LOG.warning("recovery after a failed update failed: %s", err)

    def _failed(self, reason: str, text: str, decision: planner.Decision, result: RoundResult, t0: float,
                kind: str) -> None:
        result.error = text
        result.apply_seconds += time.perf_counter() - t0
        self.metrics.update_failures.labels(kind).inc()
        self.metrics.updates.labels("failed").inc()
        self.last_error = text
        self.backoff_until = self.clock() + self.backoff
        LOG.warning("%s (retry in %.0fs): %s", reason, self.backoff, text)
        self.backoff = min(self.backoff * 2, self.cfg.backoff_max_seconds)
        self.retry = True
        if self.reporter is None:
            return
        short = text.strip().splitlines()
        summary = " ".join(s.strip() for s in short[:4])
        pods = {view.pod_key(p): p for p in self.store.list("pods")}
        for key in decision.nominations:
            if key in pods and decision.nominations[key] in {n.name for n in decision.added}:
                self.reporter.pod_event(pods[key], reason, f"no node launched for this pod: {summary}", "Warning")
        for pool in {n.node_pool for n in decision.added}:
            self.reporter.nodepool_event(pool, reason, f"{decision.message}: {summary}", "Warning")
            self._conditions.setdefault(pool, {})["Provisioned"] = condition("Provisioned", False, reason, summary)
        self.publish_status()

    def _succeeded(self) -> None:
        self.backoff = self.cfg.backoff_initial_seconds
        self.retry = False
        self.last_error = ""

    def _nominate(self, decision: planner.Decision, version: int | None) -> None:
        now = self.clock()
        pods = {view.pod_key(p): p for p in self.store.list("pods")}
        new = {n.name for n in decision.added}
        for key, node in decision.nominations.items():
            prev = self.nominated.get(key)
            self.nominated[key] = (node, now if prev is None or prev[0] != node else prev[1])
            self.hopeless.pop(key, None)
            if self.reporter and key in pods:
                where = (f"new node {node} (stack update #{version})" if node in new and version
                         else f"node {node}")
                self.reporter.pod_event(pods[key], "Nominated", f"Pod should schedule on {where}")
        live = set(pods)
        for key in [k for k in self.nominated if k not in live]:
            del self.nominated[key]

    def _report_unhelpable(self, decision: planner.Decision) -> None:
        now = self.clock()
        gen = self._api_generation()
        pods = {view.pod_key(p): p for p in self.store.list("pods")}
        for key, reason in decision.unschedulable.items():
            self.hopeless[key] = (reason, gen, now)
            if self.reporter and key in pods:
                self.reporter.pod_event(pods[key], "NotProvisionable", f"no node can be launched for this pod: {reason}",
                                        "Warning")
        for key in [k for k in self.hopeless if k not in pods]:
            del self.hopeless[key]

    def _report_status(self, decision: planner.Decision) -> None:
        for pool in {n.node_pool for n in self.desired.nodes} | {n.node_pool for n in decision.added}:
            self._conditions.setdefault(pool, {})["Provisioned"] = condition(
                "Provisioned", True, "StackUpdated", decision.message)
        self.publish_status()

    def publish_status(self) -> None:
        """NodePool status: nodes, resources in use (capacity of its registered nodes) against its
        limits, conditions; and the per-NodePool metrics."""
        self._last_status = self.clock()
        pools, _, _ = load_custom_resources(self.store.list("nodepools"), [])
        nodes = self.store.list("nodes")
        counts: dict[str, int] = {}
        for n in self.desired.nodes:
            counts[n.node_pool] = counts.get(n.node_pool, 0) + 1
        cost = self.cost_by_pool()
        for pool in pools:
            used = _capacity_sum([o for o in nodes if view.nodepool_of(o) == pool.name])
            self.metrics.nodes.labels(pool.name).set(counts.get(pool.name, 0))
            self.metrics.cost.labels(pool.name).set(cost.get(pool.name, 0.0))
            conds = self._conditions.setdefault(pool.name, {})
            over = _limits_text(dict(used), pool.limits) if pool.limits else ""
            conds["LimitsExceeded"] = condition("LimitsExceeded", bool(over.startswith("reached")),
                                                "Limits" if pool.limits else "NoLimits", over or "no limits set")
            if self.reporter:
                self.reporter.nodepool_status(pool.name, {"nodes": counts.get(pool.name, 0), "resources": used.to_k8s(),
                                                          "conditions": list(conds.values())})

    def cost_by_pool(self) -> dict[str, float]:
        from provisioner.catalog.pricing import LocalPriceSource

        prices = LocalPriceSource(self.cfg.region)
        out: dict[str, float] = {}
        for n in self.desired.nodes:
            got = self.launched.get(n.name)
            itype, zone, ct = (got.instance_type, got.zone, got.capacity_type) if got else (
                n.instance_types[0], n.zones[0], n.capacity_type)
            price = (prices.spot(itype, zone) if ct == "spot" else prices.on_demand(itype)) or 0.0
            out[n.node_pool] = out.get(n.node_pool, 0.0) + price
        return out

    def _propose(self, decision: planner.Decision, result: RoundResult) -> None:
        from provisioner.stack.operations import StackOperationError

        t0 = time.perf_counter()
        try:
            changes = self.fleet.preview(decision.desired)
        except StackOperationError as err:
            self._failed("PreviewFailed", str(err), decision, result, t0, "preview")
            return
        result.apply_seconds += time.perf_counter() - t0
        if self.proposals is not None:
            self.proposals.record(decision, changes, self.fleet.current_desired())
        LOG.info("proposed: %s", decision.message)
        # Pods nominated for proposed nodes count as handled while the proposal waits for an
        # operator (or until it is stale): no re-proposal storm.
        self._proposal = ({n.name for n in decision.added}, self.clock())
        self._nominate(decision, None)
        self._succeeded()

    def _proposed_names(self, now: float) -> set[str]:
        names, at = self._proposal
        if not names or now - at > self.cfg.proposal_ttl_seconds:
            return set()
        return names

    def follow_operator(self) -> None:
        """Propose mode: pick up what an operator applied, so applied nodes count as in flight."""
        now = self.clock()
        if now - self._last_sync < PROPOSE_SYNC_SECONDS:
            return
        self._last_sync = now
        self.sync_from_stack()
        names, _ = self._proposal
        if names and names <= {n.name for n in self.desired.nodes}:
            self._proposal = (set(), 0.0)

    # ---- the loop ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event, is_leader: Callable[[], bool] = lambda: True) -> None:
        while not stop.is_set():
            if is_leader():
                if not self.started:
                    try:
                        self.start()
                    except Exception as err:  # noqa: BLE001 - e.g. the stack is busy: try again
                        LOG.warning("start-up failed (retrying): %s", err)
                        self.last_error = str(err)
                        stop.wait(2.0)
                        continue
                try:
                    if self.cfg.mode == "propose":
                        self.follow_operator()
                    self.tick()
                    if self.clock() - self._last_status > STATUS_EVERY_SECONDS:
                        self.publish_status()
                except Exception as err:  # noqa: BLE001 - keep the loop alive; health shows it
                    LOG.exception("round failed")
                    self.last_error = str(err)
                    self.backoff_until = self.clock() + self.backoff
                    self.backoff = min(self.backoff * 2, self.cfg.backoff_max_seconds)
            else:
                self.started = False
                self.last_tick = self.clock()
            began = time.monotonic()
            self.store.wait_for_change(self.store.generation, self.wait_hint())
            # A burst of pod events must not turn into a busy loop over every pod.
            rest = MIN_TICK_SECONDS - (time.monotonic() - began)
            if rest > 0:
                stop.wait(rest)


def _capacity_sum(nodes: list) -> Any:
    from provisioner.catalog.resources import Resources

    total = Resources()
    for n in nodes:
        total = total + Resources.parse({k: v for k, v in ((n.get("status") or {}).get("capacity") or {}).items()
                                         if k in ("cpu", "memory", "pods", "nvidia.com/gpu")})
    return total


def _limits_text(used: dict[str, int], limits: dict[str, str]) -> str:
    """e.g. `cpu 12 of 1000, memory 48Gi of 1000Gi`, prefixed `reached: ` when one is at or over its limit."""
    from provisioner.catalog.resources import format_resource, parse_resource

    parts, reached = [], False
    for name, quantity in sorted(limits.items()):
        if name == "nodes":
            continue
        limit = parse_resource(name, quantity)
        have = used.get(name, 0)
        reached |= have >= limit
        parts.append(f"{name} {format_resource(name, have)} of {format_resource(name, limit)}")
    text = ", ".join(parts)
    return f"reached: {text}" if reached else text
