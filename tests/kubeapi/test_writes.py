"""kube_api's create and update (PUT) on the Firestore emulator: what is stored, what is
answered, and the apiserver's errors (docs/kube-api.md §6)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.kubeapi import checks, writes
from functions.kubeapi.objects import Reply
from functions.kubeapi.routes import Route, parse
from functions.kubeapi.status import ApiError
from functions.runtime import Runtime
from functions.store import Update

RCS = "/api/v1/namespaces/default/replicationcontrollers"
JSON = "application/json"


def rc(name: str = "web", replicas: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas, "selector": {"app": "web"},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
            **extra,
        },
    }


def pod(name: str = "p") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]}}


def create(rt: Runtime, obj: dict[str, Any], path: str = RCS, query: dict[str, str] | None = None) -> Reply:
    return writes.create(rt, parse(path), json.dumps(obj).encode(), JSON, query or {})


def put(rt: Runtime, obj: dict[str, Any], name: str = "web", query: dict[str, str] | None = None) -> Reply:
    return writes.update(rt, parse(f"{RCS}/{name}"), json.dumps(obj).encode(), JSON, query or {})


def error_of(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


# -- create --


def test_create_answers_201_and_stores_uid_creation_time_generation(rt: Runtime) -> None:
    reply = create(rt, rc())
    assert reply.code == 201
    meta = reply.body["metadata"]
    assert meta["name"] == "web" and meta["namespace"] == "default" and meta["generation"] == 1
    stored = rt.store.get("namespaces/default/replicationControllers/web")
    assert stored is not None
    assert stored.data["metadata"]["uid"] == meta["uid"]
    assert stored.data["metadata"]["creationTimestamp"].year >= 2024  # a Firestore timestamp
    assert meta["resourceVersion"] == writes.serve(parse(RCS).resource, stored)["metadata"]["resourceVersion"]
    assert "resourceVersion" not in stored.data["metadata"]


def test_create_of_a_taken_name_is_409_already_exists(rt: Runtime) -> None:
    create(rt, rc())
    error = error_of(create, rt, rc())
    assert (error.code, error.reason) == (409, "AlreadyExists")
    assert error.message == 'replicationcontrollers "web" already exists'


def test_create_drops_served_only_fields_and_status(rt: Runtime) -> None:
    obj = rc()
    obj["metadata"].update({"resourceVersion": "123", "selfLink": "/x", "managedFields": [{}],
                            "uid": "not-mine", "annotations": {"firecontrol.io/status": "{}", "keep": "me"}})
    obj["status"] = {"replicas": 9}
    create(rt, obj)
    stored = rt.store.get("namespaces/default/replicationControllers/web")
    assert stored is not None
    meta = stored.data["metadata"]
    assert not {"resourceVersion", "selfLink", "managedFields"} & meta.keys()
    assert meta["uid"] != "not-mine" and meta["annotations"] == {"keep": "me"}
    assert "status" not in stored.data


def test_generate_name_makes_a_name(rt: Runtime) -> None:
    obj = rc()
    del obj["metadata"]["name"]
    obj["metadata"]["generateName"] = "web-"
    name = create(rt, obj).body["metadata"]["name"]
    assert name.startswith("web-") and len(name) == len("web-") + 5
    assert rt.store.get(f"namespaces/default/replicationControllers/{name}") is not None


def test_no_name_is_422(rt: Runtime) -> None:
    obj = rc()
    del obj["metadata"]["name"]
    error = error_of(create, rt, obj)
    assert error.code == 422
    assert [c.field for c in error.causes] == ["metadata.name"]


def test_dry_run_writes_nothing(rt: Runtime) -> None:
    reply = create(rt, rc(), RCS, {"dryRun": "All"})
    assert reply.code == 201 and reply.body["metadata"]["name"] == "web"
    assert rt.store.get("namespaces/default/replicationControllers/web") is None


def test_invalid_object_is_422_with_one_cause_per_problem(rt: Runtime) -> None:
    obj = rc(replicas=10_000)
    obj["spec"]["template"]["spec"]["containers"][0].update({"name": "Bad_", "image": ""})
    error = error_of(create, rt, obj)
    assert (error.code, error.reason) == (422, "Invalid")
    fields = [c.field for c in error.causes]
    assert "spec.template.spec.containers[0].name" in fields
    assert "spec.template.spec.containers[0].image" in fields
    assert error.message.startswith('ReplicationController "web" is invalid: [')


def test_replicas_over_the_cap_is_422_on_spec_replicas(rt: Runtime) -> None:
    error = error_of(create, rt, rc(replicas=10_000))
    assert error.code == 422 and [c.field for c in error.causes] == ["spec.replicas"]
    assert "cap of 100" in error.causes[0].message


def test_kind_and_api_version_must_match_the_route(rt: Runtime) -> None:
    wrong_version = {**rc(), "apiVersion": "apps/v1"}
    error = error_of(create, rt, wrong_version)
    assert (error.code, error.message) == (
        400, "the API version in the data (apps/v1) does not match the expected API version (v1)")
    error = error_of(create, rt, pod())
    assert error.code == 400 and "cannot be handled as a ReplicationController" in error.message


def test_missing_kind_and_api_version_are_taken_from_the_url(rt: Runtime) -> None:
    obj = rc()
    del obj["kind"], obj["apiVersion"]
    assert create(rt, obj).body["kind"] == "ReplicationController"


def test_namespace_must_match_the_url(rt: Runtime) -> None:
    obj = rc()
    obj["metadata"]["namespace"] = "other"
    error = error_of(create, rt, obj)
    assert (error.code, error.message) == (
        400, "the namespace of the provided object does not match the namespace sent on the request")


def test_malformed_json_is_400_with_the_decoder_message(rt: Runtime) -> None:
    error = error_of(writes.create, rt, parse(RCS), b"{not json", JSON, {})
    assert error.code == 400
    assert error.message.startswith("the object provided is unrecognized (must be of type ReplicationController): "
                                    "couldn't get version/kind; json parse error: ")


def test_yaml_is_accepted_on_create(rt: Runtime) -> None:
    import yaml

    reply = writes.create(rt, parse(RCS), yaml.safe_dump(rc()).encode(), "application/yaml", {})
    assert reply.code == 201


def test_strict_field_validation_refuses_unknown_fields(rt: Runtime) -> None:
    obj = rc(foo=1, bar=2)
    error = error_of(create, rt, obj, RCS, {"fieldValidation": "Strict"})
    assert (error.code, error.message) == (
        400, 'strict decoding error: unknown field "spec.foo", unknown field "spec.bar"')


def test_warn_field_validation_warns_and_drops_unknown_fields(rt: Runtime) -> None:
    reply = create(rt, rc(foo=1))
    assert 'unknown field "spec.foo"' in reply.warnings
    stored = rt.store.get("namespaces/default/replicationControllers/web")
    assert stored is not None and "foo" not in stored.data["spec"]


def test_fields_kubernetes_knows_but_we_do_not_use_are_kept_with_a_warning(rt: Runtime) -> None:
    obj = pod()
    obj["spec"]["dnsPolicy"] = "ClusterFirst"
    reply = create(rt, obj, "/api/v1/namespaces/default/pods")
    assert reply.warnings == ["unknown field spec.dnsPolicy is kept but not used"]
    stored = rt.store.get("namespaces/default/pods/p")
    assert stored is not None and stored.data["spec"]["dnsPolicy"] == "ClusterFirst"


def test_bad_field_validation_value_is_400(rt: Runtime) -> None:
    error = error_of(create, rt, rc(), RCS, {"fieldValidation": "Loud"})
    assert error.code == 400 and "fieldValidation" in error.message


# -- update (PUT) --


def served(rt: Runtime, name: str = "web") -> dict[str, Any]:
    from functions.kubeapi.objects import serve

    route = parse(f"{RCS}/{name}")
    doc = rt.store.get(f"namespaces/default/replicationControllers/{name}")
    assert doc is not None
    return serve(route.resource, doc)


def test_update_with_the_current_resource_version_writes_and_bumps_generation(rt: Runtime) -> None:
    current = create(rt, rc()).body
    changed = copy.deepcopy(current)
    changed["spec"]["replicas"] = 3
    reply = put(rt, changed)
    assert reply.code == 200
    assert reply.body["spec"]["replicas"] == 3 and reply.body["metadata"]["generation"] == 2
    assert reply.body["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]


def test_update_with_a_stale_resource_version_is_409(rt: Runtime) -> None:
    current = create(rt, rc()).body
    first = copy.deepcopy(current)
    first["spec"]["replicas"] = 3
    put(rt, first)
    second = copy.deepcopy(current)
    second["spec"]["replicas"] = 4
    error = error_of(put, rt, second)
    assert (error.code, error.reason) == (409, "Conflict")
    assert error.message == ('Operation cannot be fulfilled on replicationcontrollers "web": the object has been '
                             "modified; please apply your changes to the latest version and try again")
    assert served(rt)["spec"]["replicas"] == 3


def test_update_without_a_resource_version_is_unconditional(rt: Runtime) -> None:
    create(rt, rc())
    rt.store.commit([Update("namespaces/default/replicationControllers/web", {"status.replicas": 1})], rt.clock())
    reply = put(rt, rc(replicas=5))
    assert reply.body["spec"]["replicas"] == 5


def test_update_that_changes_nothing_writes_nothing(rt: Runtime) -> None:
    current = create(rt, rc()).body
    before = rt.store.get("namespaces/default/replicationControllers/web")
    reply = put(rt, copy.deepcopy(current))
    after = rt.store.get("namespaces/default/replicationControllers/web")
    assert before is not None and after is not None
    assert after.update_time == before.update_time
    assert reply.body["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]


def test_generation_moves_only_when_spec_changes(rt: Runtime) -> None:
    create(rt, rc())
    labelled = served(rt)
    labelled["metadata"]["labels"]["tier"] = "front"
    assert put(rt, labelled).body["metadata"]["generation"] == 1
    respec = served(rt)
    respec["spec"]["replicas"] = 1
    assert put(rt, respec).body["metadata"]["generation"] == 2


def test_writing_down_a_defaulted_selector_is_no_spec_change(rt: Runtime) -> None:
    obj = rc()
    del obj["spec"]["selector"]  # defaulted from the template's labels, and served so
    create(rt, obj)
    labelled = served(rt)
    assert labelled["spec"]["selector"] == {"app": "web"}
    labelled["metadata"]["labels"]["tier"] = "front"
    assert put(rt, labelled).body["metadata"]["generation"] == 1


def test_functions_owned_fields_survive_a_put(rt: Runtime) -> None:
    create(rt, pod(), "/api/v1/namespaces/default/pods")
    path = "namespaces/default/pods/p"
    rt.store.commit([Update(path, {"status": {"phase": "Running", "vmFingerprint": 7},
                                   "metadata.finalizers": ["firecontrol.io/vm"], "spec.nodeName": "fc-vm"})],
                    rt.clock())
    body = pod()
    body["metadata"]["labels"] = {"a": "b"}
    reply = writes.update(rt, parse(f"/api/v1/namespaces/default/{'pods'}/p"), json.dumps(body).encode(), JSON, {})
    assert reply.body["metadata"]["labels"] == {"a": "b"}
    stored = rt.store.get(path)
    assert stored is not None
    assert stored.data["status"] == {"phase": "Running", "vmFingerprint": 7}
    assert stored.data["metadata"]["finalizers"] == ["firecontrol.io/vm"]
    assert stored.data["spec"]["nodeName"] == "fc-vm"


def test_put_of_a_missing_object_is_404(rt: Runtime) -> None:
    error = error_of(put, rt, rc())
    assert (error.code, error.message) == (404, 'replicationcontrollers "web" not found')


def test_put_with_another_name_is_400(rt: Runtime) -> None:
    create(rt, rc())
    error = error_of(put, rt, rc("other"), "web")
    assert (error.code, error.message) == (
        400, "the name of the object (other) does not match the name on the URL (web)")


def test_put_that_changes_an_apps_selector_is_422(rt: Runtime) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                     "template": {"metadata": {"labels": {"app": "d", "v": "1"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}
    create(rt, body, path)
    body["spec"]["selector"] = {"matchLabels": {"app": "d", "v": "1"}}
    error = error_of(writes.update, rt, parse(f"{path}/d"), json.dumps(body).encode(), JSON, {})
    assert error.code == 422 and [c.field for c in error.causes] == ["spec.selector"]


def test_put_over_a_2014_document_stores_v1_and_keeps_its_status(rt: Runtime) -> None:
    from tests.helpers import fixture

    legacy = fixture("rc-2014.json")
    name = legacy["id"]
    path = f"namespaces/default/replicationControllers/{name}"
    rt.store.put(path, {**legacy, "status": {"replicas": 2}})
    route: Route = parse(f"{RCS}/{name}")
    current = served(rt, name)
    reply = writes.update(rt, route, json.dumps(current).encode(), JSON, {})
    stored = rt.store.get(path)
    assert stored is not None
    assert reply.body["metadata"]["name"] == name
    assert "desiredState" in stored.data  # the object as served, unchanged: not rewritten
    changed = copy.deepcopy(reply.body)
    changed["spec"]["replicas"] = 1
    writes.update(rt, route, json.dumps(changed).encode(), JSON, {})
    stored = rt.store.get(path)
    assert stored is not None and stored.data["spec"]["replicas"] == 1 and "desiredState" not in stored.data
    assert stored.data["status"] == {"replicas": 2}


# -- hostile bodies --


@pytest.mark.parametrize(("body", "media"), [
    (b"[" * 200000, JSON), (b"[" * 20000, "application/yaml"), (b'{"a":' * 5000, JSON),
])
def test_a_body_nested_past_the_parser_is_400(rt: Runtime, body: bytes, media: str) -> None:
    error = error_of(writes.create, rt, parse(RCS), body, media, {})
    assert error.code == 400 and "nested" in error.message


def test_an_object_nested_deeper_than_firestore_stores_is_400(rt: Runtime) -> None:
    obj = rc()
    node = obj["spec"]["template"]["spec"]["containers"][0]
    for _ in range(30):
        node["a"] = {}
        node = node["a"]
    for query in ({}, {"fieldValidation": "Ignore"}):
        error = error_of(create, rt, obj, RCS, query)
        assert error.code == 400 and "at most 20" in error.message
    assert rt.store.get("namespaces/default/replicationControllers/web") is None


def test_a_name_that_is_not_text_is_422(rt: Runtime) -> None:
    for meta in ({"name": 5}, {"generateName": 5}, {"name": ["a"]}):
        obj = rc()
        obj["metadata"] = meta
        error = error_of(create, rt, obj)
        assert error.code == 422 and [c.field for c in error.causes] == [
            "metadata.name" if "name" in meta else "metadata.generateName"], meta
    assert rt.store.in_namespace("default", "replicationControllers") == []


@pytest.mark.parametrize("namespace", ["__x__", "..", ".", "a.b", "x" * 200, "UPPER", "a_b", "é"])
def test_a_namespace_no_namespace_can_be_is_not_found(api: FlaskClient, namespace: str) -> None:
    from urllib.parse import quote

    base = f"/api/v1/namespaces/{quote(namespace)}"
    created = api.post(f"{base}/replicationcontrollers", json=rc())
    assert created.status_code == 404, created.data
    assert created.json is not None and created.json["message"] == f'namespaces "{namespace}" not found'
    assert api.get(f"{base}/replicationcontrollers/web").status_code == 404
    assert api.get(f"{base}/pods/p").status_code == 404
    assert api.put(f"{base}/replicationcontrollers/web", json=rc()).status_code == 404
    assert api.patch(f"{base}/replicationcontrollers/web", data=b"{}",
                     content_type="application/merge-patch+json").status_code == 404
    assert api.delete(f"{base}/replicationcontrollers/web").status_code == 404
    assert api.get(f"{base}/replicationcontrollers/web/scale").status_code == 404
    listed = api.get(f"{base}/pods")
    assert listed.status_code == 200 and listed.json is not None and listed.json["items"] == []
    assert listed.json["metadata"]["resourceVersion"]
    assert api.delete(f"{base}/pods").status_code == 200


# -- pure rules --


def test_drop_path_removes_a_nested_field() -> None:
    obj = {"spec": {"containers": [{"name": "a", "foo": 1}], "bar": 2}}
    checks.drop_path(obj, "spec.containers[0].foo")
    checks.drop_path(obj, "spec.bar")
    checks.drop_path(obj, "spec.nothing[3].x")
    assert obj == {"spec": {"containers": [{"name": "a"}]}}


def test_storage_problem_names_what_firestore_refuses() -> None:
    assert writes.storage_problem({"a": {"__x__": 1}}) == "a: key '__x__' is reserved by Firestore"
    assert writes.storage_problem({"a": [2**64]}) == f"a[0]: {2**64} does not fit in 64 bits"
    assert writes.storage_problem({"a": [1, "x", None, 1.5]}) is None


# -- through the handler (app.handle) --


def test_http_create_answers_201_with_warning_headers(api: FlaskClient) -> None:
    reply = api.post(RCS, json=rc(foo=1))
    assert reply.status_code == 201, reply.json
    assert reply.json is not None and reply.json["metadata"]["generation"] == 1
    assert 'unknown field \\"spec.foo\\"' in " ".join(reply.headers.getlist("Warning"))


def test_http_invalid_object_is_a_422_status_with_causes(api: FlaskClient) -> None:
    reply = api.post(RCS, json=rc(replicas=10_000))
    assert reply.status_code == 422
    body = reply.json
    assert body is not None and body["kind"] == "Status" and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "spec.replicas"


def test_http_put_with_a_stale_resource_version_is_a_409_status(api: FlaskClient) -> None:
    created = api.post(RCS, json=rc()).json
    assert created is not None
    changed = copy.deepcopy(created)
    changed["spec"]["replicas"] = 3
    assert api.put(f"{RCS}/web", json=changed).status_code == 200
    changed["spec"]["replicas"] = 4
    reply = api.put(f"{RCS}/web", json=changed)
    assert reply.status_code == 409 and reply.json is not None and reply.json["reason"] == "Conflict"


def test_an_invalid_apps_object_names_its_group_as_the_apiserver_does(rt: Runtime) -> None:
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 10_000, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    }
    error = error_of(create, rt, deployment, "/apis/apps/v1/namespaces/default/deployments")
    assert error.code == 422 and error.group == "apps"
    assert error.message.startswith('Deployment.apps "web" is invalid: spec.replicas: ')
