"""Which stack to operate on and how to reach it: backend, secrets, policy packs, local cloud."""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from provisioner import paths

DEFAULT_POLICY_PACK = paths.REPO_ROOT / "policies" / "fleet-guard" / "analyzer"


@dataclass(frozen=True)
class LocalCloud:
    """Local mode: EC2 is moto on 127.0.0.1 and the provider is our stand-in plugin."""

    endpoint: str
    region: str = "us-east-1"


@dataclass(frozen=True)
class StackTarget:
    stack: str = "local"
    region: str = "us-east-1"
    project_dir: Path = paths.REPO_ROOT
    backend_url: str | None = None  # default: a file backend under the provisioner home
    local_cloud: LocalCloud | None = None
    policy_packs: tuple[Path, ...] = (DEFAULT_POLICY_PACK,)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def stacks_dir(self) -> Path:
        return self.project_dir / "stacks"

    @property
    def state_dir(self) -> Path:
        """Where this process keeps its own files: passphrase, plugin shims, temp configs."""
        return paths.home()

    def resolved_backend_url(self) -> str:
        if self.backend_url:
            return self.backend_url
        if os.environ.get("PULUMI_BACKEND_URL"):
            return os.environ["PULUMI_BACKEND_URL"]
        state = paths.home() / "pulumi-state"
        state.mkdir(parents=True, exist_ok=True)
        return f"file://{state}"

    def passphrase_file(self) -> Path:
        """A per-home passphrase for the passphrase secrets provider (created on first use)."""
        if os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
            return Path(os.environ["PULUMI_CONFIG_PASSPHRASE_FILE"])
        path = paths.home() / "pulumi-passphrase"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path

    def env(self) -> dict[str, str]:
        from provisioner import toolchain
        from provisioner.toolchain.language_host import install_shim

        bin_dir = paths.home() / "bin"
        install_shim(bin_dir)
        extra_path = [bin_dir]
        env = {
            **toolchain.pulumi_env(),
            "PULUMI_BACKEND_URL": self.resolved_backend_url(),
            "PROVISIONER_PYTHON": sys.executable,
            "PULUMI_HOME": str(paths.home() / "pulumi-home"),
            **self.extra_env,
        }
        if not os.environ.get("PULUMI_CONFIG_PASSPHRASE"):
            env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(self.passphrase_file())
        if self.local_cloud:
            from provisioner.localcloud.aws_provider import install_plugin_shim

            install_plugin_shim(bin_dir)
            env.update({
                "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": self.local_cloud.region, "AWS_REGION": self.local_cloud.region,
            })
        else:
            env["PULUMI_IGNORE_AMBIENT_PLUGINS"] = "false"
        env["PATH"] = os.pathsep.join([*(str(p) for p in extra_path), env["PATH"]])
        return env

    def aws_config(self) -> dict[str, object]:
        """Provider config stored in the stack (what a plain `pulumi preview` also uses)."""
        config: dict[str, object] = {"aws:region": self.region}
        if self.local_cloud:
            config.update({
                "aws:endpoints": [{"ec2": self.local_cloud.endpoint}],
                "aws:accessKey": "local",
                "aws:secretKey": "local",
                "aws:skipCredentialsValidation": True,
                "aws:skipRequestingAccountId": True,
                "aws:skipMetadataApiCheck": True,
            })
        return config
