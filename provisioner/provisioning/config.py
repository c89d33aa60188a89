"""Tunables of the provisioning loop (defaults follow Karpenter's)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoopConfig:
    cluster: str
    region: str = "us-east-1"
    batch_idle_seconds: float = 1.0
    batch_max_seconds: float = 10.0
    launch_timeout_seconds: float = 300.0
    registration_timeout_seconds: float = 900.0
    unavailable_ttl_seconds: float = 180.0
    # A pod nominated for a node that has been Ready this long, and still Pending, is planned again.
    nomination_grace_seconds: float = 10.0
    # An unhelpable pod is looked at again after this long (or when NodePools/NodeClasses change).
    hopeless_recheck_seconds: float = 300.0
    backoff_initial_seconds: float = 2.0
    backoff_max_seconds: float = 120.0
    mode: str = "apply"  # apply | propose
    proposal_ttl_seconds: float = 900.0  # an unreviewed proposal is proposed again after this long
    max_replans: int = 3  # capacity errors re-planned at once within one round
    # False only to exercise the policy pack as the backstop: the planner then ignores guardrails.
    planner_guardrails: bool = True
