"""One read of the cluster and the stack, for the one-shot commands (`preview`, `explain`): the same
reconciler the controller runs, fed by a single list of every watched kind instead of watches."""

from __future__ import annotations

import threading
from typing import Any

from provisioner.cli.run import _local_endpoint


def one_shot_reconciler(kubeconfig: str | None, cluster: str, stack: str, region: str, local_state_dir: str | None,
                        ec2_endpoint: str | None, backend_url: str | None) -> Any:
    """A Reconciler (no reporter: it sends nothing) over a snapshot of the cluster, synced from the stack."""
    from provisioner.provisioning.config import LoopConfig
    from provisioner.provisioning.controller import ControllerOptions, ec2_client, fleet_stack
    from provisioner.provisioning.reconciler import Reconciler
    from provisioner.state import kinds
    from provisioner.state.kube import KubeClient
    from provisioner.state.reflector import Reflector
    from provisioner.state.store import Store

    loop = LoopConfig(cluster=cluster, region=region)
    opts = ControllerOptions(loop=loop, stack=stack, kubeconfig=kubeconfig,
                             ec2_endpoint=ec2_endpoint or _local_endpoint(local_state_dir), backend_url=backend_url)
    kube, store = KubeClient(kubeconfig), Store()
    for kind in kinds.ALL:
        try:
            Reflector(kube, kind, store, threading.Event(), sleep=lambda s: None).list()
        except Exception:  # noqa: BLE001 - an optional CRD not installed lists as empty
            store.replace(kind.name, [])
    rec = Reconciler(loop, store, fleet_stack(opts), ec2_client(region, opts.ec2_endpoint), reporter=None)
    rec.sync_from_stack()
    return rec
