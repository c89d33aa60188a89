"""provisioner: a Kubernetes node autoscaler where every fleet change is a Pulumi stack update."""

__version__ = "0.1.0"
