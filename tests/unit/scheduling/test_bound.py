import numpy as np

from provisioner.api.types import NodePool, Requirement
from provisioner.scheduling import SchedulingInput, simulate
from provisioner.scheduling.bound import BoundGroup, lower_bound
from provisioner.scheduling.convert import pod_from_k8s
from tests.unit.scheduling.scenario import catalog

PRICE = np.array([0.096, 0.192])
ALLOC = np.array([[1930, 100], [3920, 100]])  # like m5.large / m5.xlarge: cpu, pods
ANY = np.array([True, True])


def bound(groups):
    return lower_bound(groups, PRICE, ALLOC, ALLOC, np.array([0, 0]), {}, np.zeros((0, 2)))


def test_pooled_demand_is_fractional():
    assert abs(bound([BoundGroup(ANY, (), np.array([3000.0, 3.0]))]) - 0.192 * 3000 / 3920) < 1e-6


def test_whole_pods_round_up_per_node():
    g = BoundGroup(ANY, (), np.array([3000.0, 3.0]), per_pod=np.array([1000.0, 1.0]), count=3)
    assert abs(bound([g]) - 0.192) < 1e-6


def test_node_count_rows():
    g = BoundGroup(ANY, (), np.zeros(2), min_nodes=2)
    assert abs(bound([g]) - 2 * 0.096) < 1e-6


def test_ratio_rows_keep_memory_with_cpu():
    price = np.array([1.0, 1.0])
    alloc = np.array([[10, 0], [0, 10]])  # one type has only cpu, the other only memory
    pooled = BoundGroup(np.array([True, True]), (), np.array([10.0, 10.0]))
    coupled = BoundGroup(np.array([True, True]), (), np.array([10.0, 10.0]), ratios=((1, 0, 1.0, 1.0),))
    free = np.zeros((0, 2))
    assert abs(lower_bound([pooled], price, alloc, alloc, np.array([0, 0]), {}, free) - 2.0) < 1e-6
    # a pod needing both cannot be split across the two: infeasible, so no bound is claimed
    assert lower_bound([coupled], price, alloc, alloc, np.array([0, 0]), {}, free) == 0.0


def test_single_deployment_gap_is_small():
    pool = NodePool(name="default", node_class_ref="default",
                    requirements=(Requirement("karpenter.sh/capacity-type", "In", ("spot", "on-demand")),))
    pods = tuple(pod_from_k8s({"metadata": {"name": f"p{i}", "namespace": "ns", "labels": {"app": "a"}},
                               "spec": {"containers": [{"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}})
                 for i in range(500))
    plan = simulate(SchedulingInput(pods=pods, nodepools=(pool,), catalog=catalog()))
    assert not plan.unschedulable
    assert plan.lower_bound_per_hour <= plan.cost_per_hour
    assert plan.gap < 0.02


def test_per_node_limit_counts_nodes_of_a_fitting_size():
    # two pods that may not share a node, one needing the big type: one node of each
    small = BoundGroup(ANY, (), np.zeros(2), per_pod=np.array([1000.0, 1.0]), count=1, hosts=(("h", 1),),
                       uses_capacity=False)
    big = BoundGroup(ANY, (), np.zeros(2), per_pod=np.array([3000.0, 1.0]), count=1, hosts=(("h", 1),),
                     uses_capacity=False)
    assert abs(bound([small, big]) - (0.096 + 0.192)) < 1e-6
    # without the shared per-node limit, one big node holds both
    free = BoundGroup(ANY, (), np.zeros(2), per_pod=np.array([3000.0, 1.0]), count=1)
    assert abs(bound([small, free]) - 0.192) < 1e-6


def test_hostname_spread_of_mixed_sizes_is_bounded_by_one_fitting_node_each():
    pool = NodePool(name="default", node_class_ref="default",
                    requirements=(Requirement("karpenter.sh/capacity-type", "In", ("spot", "on-demand")),))
    spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "a"}}}]
    sizes = [("250m", "256Mi"), ("1", "1Gi"), ("2", "4Gi"), ("500m", "8Gi")] * 5
    pods = tuple(pod_from_k8s({"metadata": {"name": f"p{i}", "namespace": "ns", "labels": {"app": "a"}},
                               "spec": {"topologySpreadConstraints": spread, "containers": [
                                   {"resources": {"requests": {"cpu": c, "memory": m}}}]}})
                 for i, (c, m) in enumerate(sizes))
    plan = simulate(SchedulingInput(pods=pods, nodepools=(pool,), catalog=catalog()))
    assert not plan.unschedulable and len(plan.new_nodes) == len(pods)
    assert plan.lower_bound_per_hour <= plan.cost_per_hour
    assert plan.gap < 0.02  # one pod per node: the plan buys the cheapest fitting node for each


def test_pooled_pods_only_use_columns_one_of_them_fits():
    # cpu, memory: the cheap column has memory for no pod (like t4g.nano's 72Mi against 100Mi
    # requests); its memory must not count, nor its cpu at the pods' memory/cpu ratio
    price = np.array([0.1, 1.0])
    alloc = np.array([[1000, 50], [2000, 200]])
    demand = np.array([2000.0, 400.0])  # four pods of (500, 100)
    ratios = ((1, 0, 0.2, 0.2),)
    free = np.zeros((0, 2))
    loose = BoundGroup(ANY, (), demand, ratios=ratios)
    tight = BoundGroup(ANY, (), demand, ratios=ratios, members=np.array([[500, 100]]))
    assert abs(lower_bound([loose], price, alloc, alloc, np.array([0, 0]), {}, free) - 0.8) < 1e-6
    assert abs(lower_bound([tight], price, alloc, alloc, np.array([0, 0]), {}, free) - 2.0) < 1e-6
