"""The capacity control API as a WSGI app, without moto."""

import io
import json

from provisioner.localcloud.capacity import CONTROL_PATH, CapacityError, CapacityRegistry
from provisioner.localcloud.moto_server import control_app


def _inner(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"moto"]


def _call(app, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(data)),
               "wsgi.input": io.BytesIO(data)}
    status = {}

    def start_response(code, headers):
        status["code"] = int(code.split()[0])

    out = b"".join(app(environ, start_response))
    return status["code"], out


def test_other_paths_reach_moto():
    app = control_app(_inner, CapacityRegistry())
    assert _call(app, "POST", "/") == (200, b"moto")


def test_post_get_delete():
    registry = CapacityRegistry()
    app = control_app(_inner, registry)
    code, out = _call(app, "POST", CONTROL_PATH, {"instance_type": "m6i.large", "zone": "us-east-1a",
                                                   "capacity_type": "spot"})
    assert code == 200
    assert json.loads(out)["errors"][0]["error_code"] == "InsufficientInstanceCapacity"
    code, _ = _call(app, "POST", CONTROL_PATH + "/", [{"instance_type": "c7g.large", "capacity_type": "on-demand",
                                                      "error_code": "UnfulfillableCapacity"}])
    assert code == 200
    code, out = _call(app, "GET", CONTROL_PATH)
    assert [e["instance_type"] for e in json.loads(out)["errors"]] == ["m6i.large", "c7g.large"]
    assert registry.lookup("c7g.large", "us-east-1c", "on-demand") == CapacityError(
        "c7g.large", "us-east-1c", "on-demand", "UnfulfillableCapacity")
    code, out = _call(app, "DELETE", CONTROL_PATH)
    assert code == 200 and registry.list() == []


def test_bad_requests():
    app = control_app(_inner, CapacityRegistry())
    assert _call(app, "POST", CONTROL_PATH, {"instance_type": "m6i.large", "capacity_type": "reserved"})[0] == 400
    assert _call(app, "POST", CONTROL_PATH, {"zone": "us-east-1a"})[0] == 400
    assert _call(app, "PUT", CONTROL_PATH)[0] == 405
