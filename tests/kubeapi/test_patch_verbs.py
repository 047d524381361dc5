"""kube_api's PATCH verb on the Firestore emulator: each patch type applied to the object
as served, then the update path (docs/kube-api.md §6)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.kubeapi import writes
from functions.kubeapi.objects import Reply
from functions.kubeapi.routes import parse
from functions.kubeapi.status import ApiError
from functions.runtime import Runtime
from functions.store import Update

RCS = "/api/v1/namespaces/default/replicationcontrollers"
PATH = "namespaces/default/replicationControllers/web"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@pytest.fixture
def current(rt: Runtime) -> dict[str, Any]:
    body = {
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"app": "web"},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"},
                                                      {"name": "side", "image": "busybox"}]}}},
    }
    return writes.create(rt, parse(RCS), json.dumps(body).encode(), "application/json", {}).body


def patch(rt: Runtime, body: Any, content_type: str = MERGE, query: dict[str, str] | None = None) -> Reply:
    return writes.patch(rt, parse(f"{RCS}/web"), json.dumps(body).encode(), content_type, query or {})


def error_of(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


def stored(rt: Runtime) -> dict[str, Any]:
    doc = rt.store.get(PATH)
    assert doc is not None
    return doc.data


def test_merge_patch_sets_replicas_and_bumps_generation(rt: Runtime, current: dict[str, Any]) -> None:
    reply = patch(rt, {"spec": {"replicas": 5}})
    assert reply.code == 200 and reply.body["spec"]["replicas"] == 5
    assert reply.body["metadata"]["generation"] == 2
    assert stored(rt)["spec"]["replicas"] == 5


def test_json_patch(rt: Runtime, current: dict[str, Any]) -> None:
    patch(rt, [{"op": "replace", "path": "/spec/replicas", "value": 3},
               {"op": "add", "path": "/metadata/labels/tier", "value": "front"}], JSON_PATCH)
    data = stored(rt)
    assert data["spec"]["replicas"] == 3 and data["metadata"]["labels"] == {"app": "web", "tier": "front"}


def test_strategic_merge_patch_merges_containers_by_name(rt: Runtime, current: dict[str, Any]) -> None:
    patch(rt, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}}, STRATEGIC)
    containers = stored(rt)["spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "web", "image": "nginx:2"}, {"name": "side", "image": "busybox"}]


def test_a_patch_carrying_a_stale_resource_version_is_409(rt: Runtime, current: dict[str, Any]) -> None:
    old = current["metadata"]["resourceVersion"]
    patch(rt, {"spec": {"replicas": 3}})
    error = error_of(patch, rt, {"metadata": {"resourceVersion": old}, "spec": {"replicas": 4}})
    assert (error.code, error.reason) == (409, "Conflict")
    assert stored(rt)["spec"]["replicas"] == 3


def test_a_patch_carrying_the_current_resource_version_applies(rt: Runtime, current: dict[str, Any]) -> None:
    reply = patch(rt, {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                       "spec": {"replicas": 4}})
    assert reply.body["spec"]["replicas"] == 4


def test_a_patch_keeps_what_the_functions_own(rt: Runtime, current: dict[str, Any]) -> None:
    rt.store.commit([Update(PATH, {"status": {"replicas": 2, "observedGeneration": 1},
                                   "metadata.finalizers": ["x"]})], rt.clock())
    patch(rt, {"status": {"replicas": 99}, "metadata": {"finalizers": None, "labels": {"a": "b"}}})
    data = stored(rt)
    assert data["status"] == {"replicas": 2, "observedGeneration": 1}
    assert data["metadata"]["finalizers"] == ["x"]
    assert data["metadata"]["labels"] == {"app": "web", "a": "b"}


def test_a_patch_that_changes_nothing_writes_nothing(rt: Runtime, current: dict[str, Any]) -> None:
    before = rt.store.get(PATH)
    reply = patch(rt, {"spec": {"replicas": 2}})
    after = rt.store.get(PATH)
    assert before is not None and after is not None and after.update_time == before.update_time
    assert reply.body["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]


def test_a_patch_that_breaks_validation_is_422(rt: Runtime, current: dict[str, Any]) -> None:
    error = error_of(patch, rt, {"spec": {"replicas": 10_000}})
    assert error.code == 422 and [c.field for c in error.causes] == ["spec.replicas"]


def test_a_patch_that_renames_the_object_is_400(rt: Runtime, current: dict[str, Any]) -> None:
    error = error_of(patch, rt, {"metadata": {"name": "other"}})
    assert error.code == 400 and "does not match the name on the URL" in error.message


def test_server_side_apply_is_415(rt: Runtime, current: dict[str, Any]) -> None:
    error = error_of(patch, rt, {"spec": {}}, "application/apply-patch+yaml")
    assert error.code == 415 and "kubectl apply" in error.message


def test_another_media_type_is_415(rt: Runtime, current: dict[str, Any]) -> None:
    assert error_of(patch, rt, {"spec": {}}, "text/plain").code == 415


def test_patch_of_a_missing_object_is_404(rt: Runtime) -> None:
    assert error_of(patch, rt, {"spec": {"replicas": 1}}).code == 404


def test_strict_validation_refuses_an_unknown_field_in_a_patch(rt: Runtime, current: dict[str, Any]) -> None:
    error = error_of(patch, rt, {"spec": {"foo": 1}}, MERGE, {"fieldValidation": "Strict"})
    assert (error.code, error.message) == (400, 'strict decoding error: unknown field "spec.foo"')


# -- fields Kubernetes does not know, stored by another Firestore client --


def a_stored_unknown_field(rt: Runtime) -> None:
    """A controller a Firestore client wrote with ``spec.foo`` (DESIGN: kept and reported)."""
    rt.store.client.document(PATH).set({
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"app": "web"}, "foo": 1,
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    })


def test_a_stored_unknown_field_does_not_block_a_strict_patch(rt: Runtime) -> None:
    a_stored_unknown_field(rt)
    reply = patch(rt, {"metadata": {"labels": {"x": "y"}}}, STRATEGIC, {"fieldValidation": "Strict"})
    assert reply.code == 200
    assert "unknown field spec.foo is kept but not used" in reply.warnings
    assert stored(rt)["spec"]["foo"] == 1 and stored(rt)["metadata"]["labels"]["x"] == "y"


def test_a_strict_patch_refuses_only_the_unknown_fields_it_adds(rt: Runtime) -> None:
    a_stored_unknown_field(rt)
    error = error_of(patch, rt, {"spec": {"bar": 2}}, MERGE, {"fieldValidation": "Strict"})
    assert (error.code, error.message) == (400, 'strict decoding error: unknown field "spec.bar"')


def test_a_warn_patch_drops_only_the_unknown_fields_it_adds(rt: Runtime) -> None:
    a_stored_unknown_field(rt)
    reply = patch(rt, {"spec": {"bar": 2}})
    assert 'unknown field "spec.bar"' in reply.warnings and 'unknown field "spec.foo"' not in reply.warnings
    assert stored(rt)["spec"]["foo"] == 1 and "bar" not in stored(rt)["spec"]


def test_a_strict_put_of_the_served_object_keeps_a_stored_unknown_field(rt: Runtime) -> None:
    from functions.kubeapi.objects import serve

    a_stored_unknown_field(rt)
    route = parse(f"{RCS}/web")
    doc = rt.store.get(PATH)
    assert doc is not None
    obj = serve(route.resource, doc)
    obj["spec"]["replicas"] = 2
    reply = writes.update(rt, route, json.dumps(obj).encode(), "application/json", {"fieldValidation": "Strict"})
    assert reply.code == 200 and stored(rt)["spec"]["foo"] == 1 and stored(rt)["spec"]["replicas"] == 2
    obj["spec"]["bar"] = 3
    del obj["metadata"]["resourceVersion"]
    error = error_of(writes.update, rt, route, json.dumps(obj).encode(), "application/json",
                     {"fieldValidation": "Strict"})
    assert (error.code, error.message) == (400, 'strict decoding error: unknown field "spec.bar"')


def test_a_patch_nested_past_the_parser_or_firestore_is_400(rt: Runtime, current: dict[str, Any]) -> None:
    for body in (b"[" * 200000, b'{"spec":' * 30 + b"1" + b"}" * 30):
        error = error_of(writes.patch, rt, parse(f"{RCS}/web"), body, MERGE, {})
        assert error.code == 400 and "nested" in error.message
