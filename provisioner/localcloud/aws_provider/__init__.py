"""Local-mode stand-in for the `pulumi-resource-aws` plugin (see docs/local-cloud.md).

It serves Pulumi's ResourceProvider gRPC protocol for the pulumi-aws resource types the fleet
program uses, with pulumi-aws's property names and semantics, against the local EC2 (moto).
Production runs the real pulumi-aws plugin with the same program.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from provisioner.localcloud.aws_provider.shared import PLUGIN_VERSION

PLUGIN_NAME = "pulumi-resource-aws"
MODULE = "provisioner.localcloud.aws_provider"

__all__ = ["MODULE", "PLUGIN_NAME", "PLUGIN_VERSION", "install_plugin_shim"]


def install_plugin_shim(bin_dir: Path) -> Path:
    """Write an executable `pulumi-resource-aws` in `bin_dir` that runs the stand-in.

    Put `bin_dir` first on the engine's PATH: the engine uses a `pulumi-resource-<name>` found
    there (an ambient plugin) before looking in its plugin cache.
    """
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    repo_root = Path(__file__).resolve().parents[3]
    script = (
        "#!/bin/sh\n"
        "# Local-mode stand-in for pulumi-resource-aws (written by provisioner; see docs/local-cloud.md).\n"
        f"PYTHONPATH={shlex.quote(str(repo_root))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        "export PYTHONPATH\n"
        f'exec {shlex.quote(sys.executable)} -u -m {MODULE} "$@"\n'
    )
    path = bin_dir / PLUGIN_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(script)
    tmp.chmod(0o755)
    tmp.replace(path)
    return path
