"""Prometheus metrics of the provisioning loop (own registry: several controllers can share a process in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.pending_pods = Gauge("provisioner_pending_pods", "Pods waiting for capacity (unschedulable).",
                                  registry=r)
        self.batch_seconds = Histogram("provisioner_batch_duration_seconds", "Time a batch of pending pods waited.",
                                       buckets=DURATION_BUCKETS, registry=r)
        self.batch_size = Histogram("provisioner_batch_pods", "Pending pods in a batch.",
                                    buckets=(1, 5, 10, 50, 100, 500, 1000, 5000), registry=r)
        self.solve_seconds = Histogram("provisioner_solve_duration_seconds", "Scheduling simulation time.",
                                       buckets=DURATION_BUCKETS, registry=r)
        self.updates = Counter("provisioner_stack_updates_total", "Stack updates by result.", ["result"], registry=r)
        self.update_seconds = Histogram("provisioner_stack_update_duration_seconds", "Stack update time (preview + up).",
                                        buckets=DURATION_BUCKETS, registry=r)
        self.update_failures = Counter("provisioner_stack_update_failures_total", "Failed stack updates by kind.",
                                       ["kind"], registry=r)
        self.nodes = Gauge("provisioner_nodes", "Nodes in the desired node set by NodePool.", ["nodepool"], registry=r)
        self.cost = Gauge("provisioner_cost_per_hour_dollars", "Cost per hour of the fleet by NodePool.",
                          ["nodepool"], registry=r)
        self.unavailable = Gauge("provisioner_unavailable_offerings", "Offerings skipped after capacity errors.",
                                 registry=r)
        self.disruption_decisions = Counter("provisioner_disruption_decisions_total",
                                            "Disruption commands started, by method and action (delete/replace).",
                                            ["method", "action"], registry=r)
        self.disruption_savings = Counter("provisioner_disruption_savings_dollars_per_hour_total",
                                          "Cost per hour removed by finished disruption commands, by method.",
                                          ["method"], registry=r)
        self.disruption_blocked = Counter("provisioner_disruption_blocked_total",
                                          "Disruptions held back, by what held them (DoNotDisrupt, Budget, ...).",
                                          ["reason"], registry=r)
        self.disruption_pass_seconds = Histogram("provisioner_disruption_pass_duration_seconds",
                                                 "Time of one disruption decision pass.", buckets=DURATION_BUCKETS,
                                                 registry=r)
        self.is_leader = Gauge("provisioner_leader", "1 while this replica holds the lease.", registry=r)
