from provisioner.termination import finalizer


class FakeKube:
    """A Node store with resourceVersion preconditions; `conflicts` PATCHes answer 409 first."""

    def __init__(self, node=None, conflicts=0):
        self.node = node
        self.conflicts = conflicts
        self.patches = []

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        if self.node is None:
            return 404, None
        if method == "GET":
            return 200, self.node
        assert method == "PATCH" and content_type == "application/merge-patch+json"
        self.patches.append(body)
        if self.conflicts:
            self.conflicts -= 1
            self.node["metadata"]["resourceVersion"] = str(int(self.node["metadata"]["resourceVersion"]) + 1)
            return 409, None
        assert body["metadata"]["resourceVersion"] == self.node["metadata"]["resourceVersion"]
        self.node["metadata"]["finalizers"] = body["metadata"]["finalizers"]
        return 200, self.node


def node(finalizers=(), deleting=False):
    meta = {"name": "n1", "resourceVersion": "1", "finalizers": list(finalizers)}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    return {"metadata": meta}


def test_add_keeps_other_finalizers_and_retries_on_conflict():
    kube = FakeKube(node(["other/keep"]), conflicts=2)
    assert finalizer.add(kube, "n1")
    assert kube.node["metadata"]["finalizers"] == ["other/keep", finalizer.FINALIZER]
    assert len(kube.patches) == 3
    assert finalizer.has(kube.node)


def test_lift_removes_only_ours_and_is_idempotent():
    kube = FakeKube(node(["other/keep", finalizer.FINALIZER]))
    assert finalizer.lift(kube, "n1")
    assert kube.node["metadata"]["finalizers"] == ["other/keep"]
    assert finalizer.lift(kube, "n1") and len(kube.patches) == 1


def test_no_finalizer_added_to_a_node_being_deleted_and_gone_node_is_false():
    kube = FakeKube(node(deleting=True))
    assert finalizer.add(kube, "n1") and kube.patches == []
    assert not finalizer.add(FakeKube(None), "n1")
