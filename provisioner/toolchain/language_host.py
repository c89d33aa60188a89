"""A Python language host for Pulumi projects on disk, built on the Pulumi SDK's own language server.

The Go module proxy here does not serve `pulumi-language-python`, so the real language
host binary cannot be built. Inline Automation API programs do not need it (the SDK serves
the language protocol itself); an operator's plain `pulumi preview` on the root project does.
This host serves the SDK's `LanguageServer` (the same code that runs inline programs) and
runs the project's `main` file in it. Policy packs do not go through it: they are started as
executable analyzers (see policies/).

Started by the engine as `pulumi-language-python <engine-address>`; prints its port first.
"""

from __future__ import annotations

import runpy
import sys
from concurrent import futures
from pathlib import Path

import grpc
from pulumi.automation._server import LanguageServer
from pulumi.runtime.proto import language_pb2_grpc, plugin_pb2

SHIM_NAME = "pulumi-language-python"


class ProjectLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(program=self._run_main)
        self._main: Path | None = None

    def GetPluginInfo(self, request, context):
        import pulumi

        return plugin_pb2.PluginInfo(version=getattr(pulumi, "__version__", "3.0.0"))

    def Run(self, request, context):
        info = request.info
        root = Path(info.program_directory or request.pwd or ".")
        entry = info.entry_point or request.program or "."
        main = (root / entry).resolve()
        self._main = main / "__main__.py" if main.is_dir() else main
        sys.path.insert(0, str(Path(info.root_directory or root).resolve()))
        return super().Run(request, context)

    def _run_main(self) -> None:
        assert self._main is not None
        runpy.run_path(str(self._main), run_name="__main__")


def serve() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)])
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(ProjectLanguageServer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:  # the engine interrupts its plugins when it is done
        server.stop(0)


def install_shim(bin_dir: Path) -> Path:
    """Write the `pulumi-language-python` executable the engine looks for on PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / SHIM_NAME
    text = f'#!/bin/sh\nexec "{sys.executable}" -u -m provisioner.toolchain.language_host "$@"\n'
    if not shim.exists() or shim.read_text() != text:
        shim.write_text(text)
        shim.chmod(0o755)
    return shim


if __name__ == "__main__":
    serve()
