"""Where provisioner keeps things on disk.

Tools are cached by version outside the checkout (CI clones fresh every run);
local-mode state (Pulumi backend, local cluster, logs) lives under one home.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    return Path(os.environ.get("PROVISIONER_CACHE", Path.home() / ".cache" / "provisioner"))


def tools_root() -> Path:
    return cache_root() / "tools"


def home() -> Path:
    """Local-mode state: Pulumi file backend, workspaces, local cluster."""
    return Path(os.environ.get("PROVISIONER_HOME", Path.home() / ".provisioner"))


def local_state_dir() -> Path:
    return home() / "local"


def kubeconfig_path() -> Path:
    return local_state_dir() / "kubeconfig"
