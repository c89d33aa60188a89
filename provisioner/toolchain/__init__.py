"""Building, caching and locating the real tools (Pulumi CLI, Kubernetes control plane, kine, kwok)."""

from provisioner.toolchain.gobuild import ToolchainError
from provisioner.toolchain.tools import CLUSTER_TOOLS, FLEET_TOOLS, TOOLS, Tool, ensure, pulumi_env, status

__all__ = ["CLUSTER_TOOLS", "FLEET_TOOLS", "TOOLS", "Tool", "ToolchainError", "ensure", "pulumi_env", "status"]
