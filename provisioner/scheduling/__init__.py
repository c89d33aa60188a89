"""Scheduling simulation: where pending pods would go and which nodes to buy.

    plan = simulate(SchedulingInput(pods=..., nodepools=..., catalog=...))
"""

from provisioner.scheduling.plan import Plan, PlannedNode, SchedulingInput, Unschedulable
from provisioner.scheduling.simulate import simulate

__all__ = ["Plan", "PlannedNode", "SchedulingInput", "Unschedulable", "simulate"]
