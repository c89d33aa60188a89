"""Property tests: any NodePool the types can hold round-trips through its manifest, and the
committed CRD's plain schema accepts that manifest."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.api import Budget, Disruption, NodePool, Requirement, Taint, load_documents, to_manifest

from .test_crd import VALIDATORS

_name = st.from_regex(r"\A[a-z][a-z0-9-]{0,20}[a-z0-9]\Z")
_value = st.from_regex(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?\Z")
_key = st.builds(lambda d, n: f"{d}/{n}", st.sampled_from(["example.com", "team.acme.io"]), _value) | st.sampled_from(
    ["kubernetes.io/arch", "topology.kubernetes.io/zone", "karpenter.sh/capacity-type",
     "provisioner.sh/instance-family", "node.kubernetes.io/instance-type"])
_seconds = st.integers(0, 10 ** 6).map(lambda s: timedelta(seconds=s))


@st.composite
def _requirement(draw: st.DrawFn) -> Requirement:
    op = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]))
    if op in ("Exists", "DoesNotExist"):
        values: tuple[str, ...] = ()
    elif op in ("Gt", "Lt"):
        values = (str(draw(st.integers(0, 10 ** 6))),)
    else:
        values = tuple(draw(st.lists(_value, min_size=1 if op == "In" else 0, max_size=4)))
    min_values = draw(st.none() | st.integers(1, max(1, len(values)))) if op == "In" else None
    return Requirement(draw(_key), op, values, min_values)


_taint = st.builds(Taint, _key, st.just("") | _value, st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]))
_budget = st.builds(Budget, st.sampled_from(["0", "3", "10%", "100%"]), st.just(None), st.just(None),
                    st.lists(st.sampled_from(["Empty", "Drifted", "Underutilized", "Expired"]), unique=True,
                             max_size=2).map(tuple)) | \
    st.builds(Budget, st.just("0"), st.sampled_from(["@daily", "0 9 * * mon-fri"]),
              st.integers(1, 600).map(lambda m: timedelta(minutes=m)), st.just(()))

_pools = st.builds(
    NodePool,
    name=_name,
    weight=st.integers(0, 100),
    labels=st.dictionaries(_key.filter(lambda k: "kubernetes.io" not in k or k.startswith("node.")), _value,
                           max_size=3),
    annotations=st.dictionaries(_key, st.text(max_size=10), max_size=2),
    requirements=st.lists(_requirement(), max_size=4).map(tuple),
    taints=st.lists(_taint, max_size=2).map(tuple),
    startup_taints=st.lists(_taint, max_size=1).map(tuple),
    limits=st.dictionaries(st.sampled_from(["cpu", "memory", "nodes", "nvidia.com/gpu"]),
                           st.sampled_from(["10", "500m", "64Gi", "1.5"]), max_size=3),
    node_class_ref=_name,
    expire_after=st.none() | _seconds,
    termination_grace_period=st.none() | _seconds,
    disruption=st.builds(Disruption, st.sampled_from(["WhenEmpty", "WhenEmptyOrUnderutilized"]),
                         st.none() | _seconds, st.lists(_budget, min_size=1, max_size=3).map(tuple)),
)


@settings(max_examples=50, deadline=None)
@given(_pools)
def test_nodepool_round_trip(pool: NodePool) -> None:
    manifest = to_manifest(pool)
    assert list(VALIDATORS["NodePool"].iter_errors(manifest)) == []
    assert load_documents([manifest]) == ([pool], [])
