"""Karpenter v1 manifests (karpenter.sh/v1 NodePool, karpenter.k8s.aws/v1 EC2NodeClass) to ours.

Field names are shared, so conversion is small: rename the API version and kind, point
nodeClassRef at our NodeClass of the same name, and write out the Karpenter defaults that
differ from ours so that a converted manifest behaves as it did under Karpenter.
"""

from __future__ import annotations

import copy
from typing import Any

from provisioner.api.types import API_VERSION, GROUP, NODECLASS_KIND, NODEPOOL_KIND

KARPENTER_NODEPOOL = ("karpenter.sh/v1", "NodePool")
KARPENTER_NODECLASS = ("karpenter.k8s.aws/v1", "EC2NodeClass")
KARPENTER_CONSOLIDATE_AFTER = "0s"

# Karpenter fields we have no equivalent for: refused rather than silently dropped.
_UNSUPPORTED_NODEPOOL = ("replicas",)
_UNSUPPORTED_NODECLASS = ("context", "instanceStorePolicy", "capacityReservationSelectorTerms")


def convert_nodepool(doc: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["apiVersion"], out["kind"] = API_VERSION, NODEPOOL_KIND
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out
    for name in [n for n in spec if n in _UNSUPPORTED_NODEPOOL]:
        errors.append(f"spec.{name}: not supported by provisioner")
        del spec[name]
    tspec = (spec.get("template") or {}).get("spec") if isinstance(spec.get("template"), dict) else None
    ref = tspec.get("nodeClassRef") if isinstance(tspec, dict) else None
    if isinstance(ref, dict):
        if (ref.get("group"), ref.get("kind")) == ("karpenter.k8s.aws", "EC2NodeClass"):
            ref["group"], ref["kind"] = GROUP, NODECLASS_KIND
        else:
            errors.append(f"spec.template.spec.nodeClassRef: {ref.get('group')}/{ref.get('kind')} is not supported; "
                          "only karpenter.k8s.aws/EC2NodeClass converts")
            del tspec["nodeClassRef"]
    disruption = spec.setdefault("disruption", {})
    if isinstance(disruption, dict):
        disruption.setdefault("consolidateAfter", KARPENTER_CONSOLIDATE_AFTER)
    return out


def convert_nodeclass(doc: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["apiVersion"], out["kind"] = API_VERSION, NODECLASS_KIND
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out
    for name in [n for n in spec if n in _UNSUPPORTED_NODECLASS]:
        errors.append(f"spec.{name}: not supported by provisioner")
        del spec[name]
    for i, term in enumerate(spec.get("amiSelectorTerms") or ()):
        if isinstance(term, dict) and "ssmParameter" in term:
            errors.append(f"spec.amiSelectorTerms[{i}].ssmParameter: not supported by provisioner")
            del term["ssmParameter"]
    return out
