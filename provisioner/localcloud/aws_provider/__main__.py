"""Serve the stand-in provider: `python -u -m provisioner.localcloud.aws_provider [engine-address]`.

Prints the gRPC port as the first stdout line (the plugin handshake) and serves until the engine
stops it (SIGTERM/SIGINT) or goes away (our parent process exits).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent import futures

import grpc
from pulumi.runtime.proto import provider_pb2_grpc

from provisioner.localcloud.aws_provider.server import AwsStandInProvider

MAX_MESSAGE = 400 * 1024 * 1024  # the engine sends whole resource states; fleets can be large


def main(argv: list[str]) -> int:
    provider = AwsStandInProvider()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=64),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)],
    )
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(provider, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    parent = os.getppid()
    # The engine may exit without signalling its plugins; don't outlive it.
    while not stop.wait(1.0):
        if os.getppid() != parent:
            break
    server.stop(grace=2).wait()
    provider.log.write_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
