"""NodePool and NodeClass custom resources (provisioner.sh/v1): typed classes, loading, validation.

See docs/api.md. Karpenter's karpenter.sh/v1 NodePool and karpenter.k8s.aws/v1 EC2NodeClass
load too, converted to ours.
"""

from provisioner.api.errors import ValidationError
from provisioner.api.loader import load_documents, load_yaml, to_manifest
from provisioner.api.types import (API_VERSION, GROUP, AmiSelectorTerm, BlockDeviceMapping, Budget,
                                   Disruption, EbsSettings, KubeletConfig, MetadataOptions, NodeClass,
                                   NodePool, Requirement, SecurityGroupSelectorTerm, SubnetSelectorTerm,
                                   Taint)

__all__ = [
    "API_VERSION", "GROUP", "AmiSelectorTerm", "BlockDeviceMapping", "Budget", "Disruption", "EbsSettings",
    "KubeletConfig", "MetadataOptions", "NodeClass", "NodePool", "Requirement", "SecurityGroupSelectorTerm",
    "SubnetSelectorTerm", "Taint", "ValidationError", "load_documents", "load_yaml", "to_manifest",
]
