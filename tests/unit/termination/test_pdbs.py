from provisioner.termination.pdbs import blocking, selects


def pdb(name, selector, allowed, ns="app"):
    spec = {} if selector is None else {"selector": selector}
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec, "status": {"disruptionsAllowed": allowed}}


def pod(labels, ns="app"):
    return {"metadata": {"name": "p", "namespace": ns, "labels": labels}, "spec": {}}


def test_match_labels_and_expressions():
    sel = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]}
    assert selects(pdb("x", sel, 0), pod({"app": "web", "tier": "fe"}))
    assert not selects(pdb("x", sel, 0), pod({"app": "web", "tier": "be"}))


def test_empty_selector_selects_all_missing_selects_none():
    assert selects(pdb("all", {}, 0), pod({"a": "b"}))
    assert not selects(pdb("none", None, 0), pod({"a": "b"}))


def test_other_namespace_never_selects():
    assert not selects(pdb("x", {}, 0, ns="other"), pod({}))


def test_blocking_only_those_with_no_disruption_allowed():
    pdbs = [pdb("b", {"matchLabels": {"app": "web"}}, 0), pdb("a", {}, 0), pdb("ok", {}, 1),
            pdb("else", {"matchLabels": {"app": "db"}}, 0)]
    assert blocking(pod({"app": "web"}), pdbs) == ["app/a", "app/b"]
    assert blocking(pod({"app": "web"}), []) == []


def test_missing_status_counts_as_blocking():
    assert blocking(pod({}), [{"metadata": {"name": "n", "namespace": "app"}, "spec": {"selector": {}}}]) == ["app/n"]
