"""The scale, status and log subresources through the handler: scale writes go through
the kind's parser (the cap is 422) and the resourceVersion rule (409); status is the
controllers' (403 on write); logs are the VM's serial port, as ``main.py logs`` reads it."""

from __future__ import annotations

import json
import threading
from typing import Any

from flask.testing import FlaskClient
from kubernetes.client import ApiClient

from emulator.compute import ComputeEmulator
from functions.runtime import Runtime
from functions.store import CONTROLLERS, DEPLOYMENTS, PODS, doc_path
from tests.cli.test_logs import emit, make_pod
from tests.helpers import fixture, ok_json, pod_doc, rc_data, rc_doc, write_rc

RC = "/api/v1/namespaces/default/replicationcontrollers"
MERGE = {"Content-Type": "application/merge-patch+json"}


def test_scale_of_a_controller(api: FlaskClient, rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 3))
    rt.store.client.document(doc_path("default", CONTROLLERS, "web")).update({"status": {"replicas": 2}})
    obj = ok_json(api.get(f"{RC}/web"))
    scale = ok_json(api.get(f"{RC}/web/scale"))
    assert scale == {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                     "creationTimestamp")},
        "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=web"},
    }
    model = ApiClient()._ApiClient__deserialize(scale, "V1Scale")  # type: ignore[attr-defined]
    again = ApiClient().sanitize_for_serialization(model)  # type: ignore[no-untyped-call]
    again["metadata"]["creationTimestamp"] = scale["metadata"]["creationTimestamp"]  # +00:00 for Z
    assert again == scale


def test_a_defaulted_selector_is_the_template_s_labels(api: FlaskClient, rt: Runtime) -> None:
    doc = rc_doc("web", 1)
    del doc["spec"]["selector"]
    doc["spec"]["template"]["metadata"]["labels"] = {"tier": "front", "app": "web"}
    write_rc(rt.store, doc)
    assert ok_json(api.get(f"{RC}/web/scale"))["status"]["selector"] == "app=web,tier=front"


def test_put_scale_writes_spec_replicas_and_moves_the_generation(api: FlaskClient, rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 1))
    before = ok_json(api.get(f"{RC}/web/scale"))
    body = {**before, "spec": {"replicas": 4}}
    after = ok_json(api.put(f"{RC}/web/scale", data=json.dumps(body), content_type="application/json"))
    assert after["spec"]["replicas"] == 4
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    stored = rc_data(rt.store, "web")
    assert stored["spec"]["replicas"] == 4 and stored["metadata"]["generation"] == 1
    assert stored["spec"]["template"] == rc_doc("web", 1)["spec"]["template"]  # nothing else written


def test_put_with_a_stale_resource_version_is_409(api: FlaskClient, rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 1))
    before = ok_json(api.get(f"{RC}/web/scale"))
    rt.store.client.document(doc_path("default", CONTROLLERS, "web")).update({"status": {"replicas": 1}})
    reply = api.put(f"{RC}/web/scale", data=json.dumps({**before, "spec": {"replicas": 5}}),
                    content_type="application/json")
    assert reply.status_code == 409 and reply.json is not None
    assert reply.json["reason"] == "Conflict"
    assert reply.json["message"] == ('Operation cannot be fulfilled on replicationcontrollers "web": the object has '
                                     "been modified; please apply your changes to the latest version and try again")
    assert rc_data(rt.store, "web")["spec"]["replicas"] == 1


def test_over_the_cap_is_422_with_the_field(api: FlaskClient, rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 1))
    reply = api.patch(f"{RC}/web/scale", data=json.dumps({"spec": {"replicas": 101}}), headers=MERGE)
    assert reply.status_code == 422 and reply.json is not None
    assert reply.json["reason"] == "Invalid"
    assert reply.json["message"].startswith('Scale.autoscaling "web" is invalid: spec.replicas: 101 is over')
    assert reply.json["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "spec.replicas",
        "message": "101 is over this installation's cap of 100 (FIRECONTROL_MAX_REPLICAS), a guard against "
                   "runaway cost"}]
    negative = api.patch(f"{RC}/web/scale", data=json.dumps({"spec": {"replicas": -1}}), headers=MERGE)
    assert negative.status_code == 422
    assert rc_data(rt.store, "web")["spec"]["replicas"] == 1


def test_kubectl_scale_s_merge_patch(api: FlaskClient, rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 1))
    scale = ok_json(api.patch(f"{RC}/web/scale", data=json.dumps({"spec": {"replicas": 0}}), headers=MERGE))
    assert scale["spec"]["replicas"] == 0 and rc_data(rt.store, "web")["spec"]["replicas"] == 0
    json_patch = [{"op": "replace", "path": "/spec/replicas", "value": 2}]
    scale = ok_json(api.patch(f"{RC}/web/scale", data=json.dumps(json_patch),
                         headers={"Content-Type": "application/json-patch+json"}))
    assert scale["spec"]["replicas"] == 2


def test_a_patch_naming_an_old_version_is_409(api: FlaskClient, rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 1))
    old = ok_json(api.get(f"{RC}/web/scale"))["metadata"]["resourceVersion"]
    ok_json(api.patch(f"{RC}/web/scale", data=json.dumps({"spec": {"replicas": 2}}), headers=MERGE))
    reply = api.patch(f"{RC}/web/scale", data=json.dumps({"metadata": {"resourceVersion": old},
                                                          "spec": {"replicas": 3}}), headers=MERGE)
    assert reply.status_code == 409
    assert rc_data(rt.store, "web")["spec"]["replicas"] == 2


def test_unconditional_scales_racing_all_land(api: FlaskClient, rt: Runtime) -> None:
    """Without a resourceVersion a lost race is retried from a fresh read, never a 409."""
    write_rc(rt.store, rc_doc("web", 1))
    codes: list[int] = []

    def scale_to(n: int) -> None:
        reply = api.patch(f"{RC}/web/scale", data=json.dumps({"spec": {"replicas": n}}), headers=MERGE)
        codes.append(reply.status_code)

    threads = [threading.Thread(target=scale_to, args=(n,)) for n in (2, 3, 4, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200] * 4
    assert rc_data(rt.store, "web")["spec"]["replicas"] in (2, 3, 4, 5)


def test_a_2014_controller_keeps_its_shape(api: FlaskClient, rt: Runtime) -> None:
    write_rc(rt.store, fixture("rc-2014.json"))
    scale = ok_json(api.get(f"{RC}/nginx-controller/scale"))
    assert scale["spec"]["replicas"] == 2 and scale["status"]["selector"] == "name=nginx"
    ok_json(api.patch(f"{RC}/nginx-controller/scale", data=json.dumps({"spec": {"replicas": 3}}), headers=MERGE))
    stored = rc_data(rt.store, "nginx-controller")
    assert stored["desiredState"]["replicas"] == 3 and "spec" not in stored
    assert ok_json(api.get(f"{RC}/nginx-controller"))["spec"]["replicas"] == 3


def test_scale_of_a_deployment_has_its_selector_text(api: FlaskClient, rt: Runtime) -> None:
    rt.store.client.document(doc_path("default", DEPLOYMENTS, "web")).set({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2,
                 "selector": {"matchLabels": {"app": "web"},
                              "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
                 "template": {"metadata": {"labels": {"app": "web", "tier": "a"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}},
    })
    path = "/apis/apps/v1/namespaces/default/deployments/web/scale"
    assert ok_json(api.get(path))["status"]["selector"] == "app=web,tier in (a,b)"
    assert ok_json(api.patch(path, data=json.dumps({"spec": {"replicas": 5}}), headers=MERGE))["spec"]["replicas"] == 5
    assert ok_json(api.get("/apis/apps/v1/namespaces/default/deployments/web"))["metadata"]["generation"] == 1


def test_scale_of_a_missing_controller_is_404(api: FlaskClient) -> None:
    reply = api.get(f"{RC}/nope/scale")
    assert reply.status_code == 404 and reply.json is not None
    assert reply.json["message"] == 'replicationcontrollers "nope" not found'


def test_status_reads_the_object_and_refuses_writes(api: FlaskClient, rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 1))
    obj = ok_json(api.get(f"{RC}/web/status"))
    assert obj["kind"] == "ReplicationController" and obj["metadata"]["name"] == "web"
    for method in (api.put, api.patch):
        reply = method(f"{RC}/web/status", data=json.dumps({"status": {"replicas": 9}}), headers=MERGE)
        assert reply.status_code == 403 and reply.json is not None and reply.json["reason"] == "Forbidden"
        assert "status is written by firecontrol's controllers" in reply.json["message"]
    assert "status" not in rc_data(rt.store, "web")


def test_no_scale_on_pods(api: FlaskClient, rt: Runtime) -> None:
    rt.store.client.document(doc_path("default", PODS, "p")).set(pod_doc("p", {"app": "x"}))
    assert api.get("/api/v1/namespaces/default/pods/p/scale").status_code == 404
    assert api.post(f"{RC}/web/scale", data=b"{}").status_code == 405


def test_logs_ask_for_a_container_when_there_are_several(api: FlaskClient, rt: Runtime) -> None:
    doc = pod_doc("p", {"app": "x"})
    doc["spec"]["containers"] = [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]
    rt.store.client.document(doc_path("default", PODS, "p")).set(doc)
    reply = api.get("/api/v1/namespaces/default/pods/p/log")
    assert reply.status_code == 400 and reply.json is not None
    assert reply.json["message"] == "a container name must be specified for pod p, choose one of: [a b]"
    wrong = api.get("/api/v1/namespaces/default/pods/p/log?container=c")
    assert wrong.status_code == 400 and wrong.json is not None
    assert wrong.json["message"] == "container c is not valid for pod p"
    waiting = api.get("/api/v1/namespaces/default/pods/p/log?container=a")
    assert waiting.status_code == 400 and waiting.json is not None
    assert waiting.json["message"] == 'container "a" in pod "p" is waiting to start: ContainerCreating'
    assert api.get("/api/v1/namespaces/default/pods/nope/log").status_code == 404


def test_logs_read_the_vm_s_serial_port(cloud_api: FlaskClient, crt: Runtime, compute: ComputeEmulator,
                                        project: str) -> None:
    vm = make_pod(crt, containers=("app", "sidecar"))
    emit(compute, project, vm, "app", "one\ntwo\nthree")
    emit(compute, project, vm, "sidecar", "other")
    path = "/api/v1/namespaces/default/pods/web-1/log?container=app"
    reply = cloud_api.get(path)
    assert reply.status_code == 200 and reply.mimetype == "text/plain"
    text = reply.get_data(as_text=True)
    assert text.endswith("one\ntwo\nthree\n") and "other" not in text and "fc-log" not in text
    assert cloud_api.get(path + "&tailLines=2").get_data(as_text=True) == "two\nthree\n"
    assert cloud_api.get(path + "&tailLines=2&limitBytes=5").get_data(as_text=True) == "two\nt"


class _QuietReader:
    """A VM port with nothing more to say: a follow would wait out its whole bound."""

    gone = False

    def more(self) -> list[str]:
        return []


def test_a_followed_log_ends_when_its_client_is_gone() -> None:
    from functions.kubeapi.subresources import _lines

    sleeps: list[float] = []
    checks = iter([False, False, True])
    lines = _lines(_QuietReader(), ["first"], None, True, 300.0,  # type: ignore[arg-type]
                   lambda: next(checks), sleeps.append)
    assert list(lines) == ["first"]
    assert len(sleeps) == 2  # two intervals while the client was there, none after it left


def test_a_patch_carrying_the_current_version_keeps_it_as_its_condition(
    api: FlaskClient, rt: Runtime, monkeypatch: Any,
) -> None:
    """``kubectl scale --resource-version=X``: X is the version read, and the object
    changes between the read and the write: 409, not a silent retry."""
    from functions.kubeapi import patch as patching

    write_rc(rt.store, rc_doc("web", 1))
    version = ok_json(api.get(f"{RC}/web/scale"))["metadata"]["resourceVersion"]
    original = patching.apply_patch

    def racing(*args: Any) -> dict[str, Any]:
        rt.store.client.document(doc_path("default", CONTROLLERS, "web")).update({"metadata.labels": {"x": "y"}})
        return original(*args)

    monkeypatch.setattr(patching, "apply_patch", racing)
    body = {"metadata": {"resourceVersion": version}, "spec": {"replicas": 3}}
    reply = api.patch(f"{RC}/web/scale", data=json.dumps(body), headers=MERGE)
    assert reply.status_code == 409, reply.data
    assert rc_data(rt.store, "web")["spec"]["replicas"] == 1


def test_scale_in_a_terminating_namespace_is_allowed(api: FlaskClient, rt: Runtime) -> None:
    """Kubernetes refuses only creates in a terminating namespace; a scale is an update."""
    write_rc(rt.store, rc_doc("web", 1), "team")
    rt.store.client.document(doc_path("team", CONTROLLERS, "web")).update({"metadata.finalizers": ["x/hold"]})
    rt.store.client.document("namespaces/team").set({"metadata": {"name": "team",
                                                                  "deletionTimestamp": "2024-01-01T00:00:00Z"},
                                                     "status": {"phase": "Terminating"}})
    base = "/api/v1/namespaces/team/replicationcontrollers/web/scale"
    reply = api.patch(base, data=json.dumps({"spec": {"replicas": 2}}), headers=MERGE)
    assert reply.status_code == 200, reply.data
    assert rc_data(rt.store, "web", "team")["spec"]["replicas"] == 2


def test_a_scale_body_nested_past_the_parser_is_400(api: FlaskClient, rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 1))
    for reply in (api.put(f"{RC}/web/scale", data=b"[" * 200000, content_type="application/json"),
                  api.patch(f"{RC}/web/scale", data=b"[" * 200000, headers=MERGE)):
        assert reply.status_code == 400, reply.data
