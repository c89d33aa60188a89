"""Shared pieces of the hand-built disruption worlds."""

PINNED = {"node.kubernetes.io/instance-type": "m5.large", "provisioner.sh/capacity-type": "on-demand"}


def price(catalog, itype, ct="on-demand", zone="us-east-1a"):
    return next(o.price for o in catalog.offerings if (o.instance_type, o.zone, o.capacity_type) == (itype, zone, ct))
