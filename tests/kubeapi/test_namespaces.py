"""The Namespace resource over implicit namespaces (docs/kube-api.md §9), on the emulator:
listed from documents and from what is stored, created, deleted lazily, 403 while
terminating."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.kubeapi import namespaces, writes
from functions.kubeapi.routes import parse
from functions.kubeapi.status import ApiError
from functions.runtime import Runtime

JSON = "application/json"
ALL = "/api/v1/namespaces"


def ns_body(name: str, labels: dict[str, str] | None = None) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": name, "labels": labels or {}}}).encode()


def create_ns(rt: Runtime, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return namespaces.create(rt, parse(ALL), ns_body(name, labels), JSON, {}).body


def names(rt: Runtime, query: dict[str, str] | None = None) -> list[str]:
    listed = namespaces.list_objects(rt, parse(ALL), query or {})
    assert listed["kind"] == "NamespaceList"
    return [item["metadata"]["name"] for item in listed["items"]]


def a_pod(rt: Runtime, namespace: str, name: str = "p", finalizers: list[str] | None = None) -> str:
    path = f"namespaces/{namespace}/pods/{name}"
    meta: dict[str, Any] = {"name": name}
    if finalizers:
        meta["finalizers"] = finalizers
    rt.store.put(path, {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                        "spec": {"containers": [{"name": "web", "image": "nginx"}]}})
    return path


def error_of(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


def test_the_list_holds_documents_implicit_namespaces_and_default(rt: Runtime) -> None:
    create_ns(rt, "made")
    a_pod(rt, "implicit")
    assert names(rt) == ["default", "implicit", "made"]


def test_an_implicit_namespace_is_active_with_a_stable_uid(rt: Runtime) -> None:
    a_pod(rt, "implicit")
    served = namespaces.get(rt, parse(f"{ALL}/implicit"), {})
    assert served["status"]["phase"] == "Active"
    assert served["metadata"]["uid"] == namespaces.implicit_uid("implicit")
    assert served["metadata"]["labels"] == {"kubernetes.io/metadata.name": "implicit"}
    assert "creationTimestamp" not in served["metadata"]


def test_a_namespace_that_holds_nothing_is_404(rt: Runtime) -> None:
    error = error_of(namespaces.get, rt, parse(f"{ALL}/nothing"), {})
    assert (error.code, error.message) == (404, 'namespaces "nothing" not found')


def test_a_name_no_namespace_can_have_is_404(rt: Runtime) -> None:
    assert error_of(namespaces.get, rt, parse(f"{ALL}/__x__"), {}).code == 404


def test_create_stores_a_v1_namespace_and_refuses_it_twice(rt: Runtime) -> None:
    served = create_ns(rt, "team", {"owner": "me"})
    assert served["metadata"]["labels"] == {"owner": "me", "kubernetes.io/metadata.name": "team"}
    assert served["spec"] == {"finalizers": ["kubernetes"]} and served["status"] == {"phase": "Active"}
    stored = rt.store.get("namespaces/team")
    assert stored is not None and stored.data["metadata"]["uid"] == served["metadata"]["uid"]
    error = error_of(create_ns, rt, "team")
    assert (error.code, error.reason) == (409, "AlreadyExists")


def test_a_bad_name_is_422(rt: Runtime) -> None:
    error = error_of(create_ns, rt, "Not_A_Label")
    assert error.code == 422 and [c.field for c in error.causes] == ["metadata.name"]


def test_labels_filter_the_list(rt: Runtime) -> None:
    create_ns(rt, "a", {"team": "x"})
    create_ns(rt, "b", {"team": "y"})
    assert names(rt, {"labelSelector": "team=x"}) == ["a"]
    assert names(rt, {"fieldSelector": "metadata.name=b"}) == ["b"]


def test_update_of_an_implicit_namespace_gives_it_a_document(rt: Runtime) -> None:
    a_pod(rt, "implicit")
    reply = namespaces.update(rt, parse(f"{ALL}/implicit"), ns_body("implicit", {"a": "b"}), JSON, {})
    assert reply.body["metadata"]["labels"]["a"] == "b"
    assert reply.body["metadata"]["uid"] == namespaces.implicit_uid("implicit")
    stored = rt.store.get("namespaces/implicit")
    assert stored is not None and stored.data["metadata"]["labels"] == {"a": "b"}


def test_default_cannot_be_deleted(rt: Runtime) -> None:
    error = error_of(namespaces.delete, rt, parse(f"{ALL}/default"), b"", {})
    assert (error.code, error.message) == (403, 'namespaces "default" is forbidden: this namespace may not be deleted')


def test_delete_marks_it_terminating_empties_it_and_refuses_new_content(rt: Runtime) -> None:
    held = a_pod(rt, "team", "held", ["firecontrol.io/vm"])
    loose = a_pod(rt, "team", "loose")
    rt.store.put("namespaces/team/replicationControllers/web", {"metadata": {"name": "web"}})
    reply = namespaces.delete(rt, parse(f"{ALL}/team"), b"", {})
    assert reply.body["status"]["phase"] == "Terminating"
    assert "deletionTimestamp" in reply.body["metadata"]
    assert rt.store.get(loose) is None and rt.store.get("namespaces/team/replicationControllers/web") is None
    marked = rt.store.get(held)
    assert marked is not None and marked.data["metadata"]["deletionTimestamp"] is not None
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "new"},
           "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
    error = error_of(writes.create, rt, parse("/api/v1/namespaces/team/pods"), json.dumps(pod).encode(), JSON, {})
    assert (error.code, error.message) == (
        403, 'pods "new" is forbidden: unable to create new content in namespace team because it is being terminated')
    assert "team" in names(rt)  # the pod's pass has not deleted its VM yet
    rt.store.delete(held)  # ... and now it has
    assert "team" not in names(rt)
    assert rt.store.get("namespaces/team") is None
    assert error_of(namespaces.get, rt, parse(f"{ALL}/team"), {}).code == 404


def test_an_empty_namespace_goes_at_once(rt: Runtime) -> None:
    create_ns(rt, "empty")
    reply = namespaces.delete(rt, parse(f"{ALL}/empty"), b"", {})
    assert reply.body["status"]["phase"] == "Terminating"
    assert rt.store.get("namespaces/empty") is None


def test_http_namespaces(rt: Runtime, api: FlaskClient) -> None:
    assert api.post(ALL, json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}}).status_code == 201
    listed = api.get(ALL).json
    assert listed is not None and [i["metadata"]["name"] for i in listed["items"]] == ["default", "web"]
    assert api.get(f"{ALL}/web").status_code == 200
    assert api.delete(f"{ALL}/default").status_code == 403
    assert api.delete(f"{ALL}/web").status_code == 200
    assert api.get(f"{ALL}/web").status_code == 404


def test_a_terminating_namespace_refuses_creates_only(rt: Runtime, api: FlaskClient) -> None:
    """As Kubernetes: an update or a patch of what a terminating namespace still holds is
    allowed (a controller's pass, a user's label); only new content is refused."""
    held = {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "web", "finalizers": ["example.com/hold"]},
            "spec": {"replicas": 1, "selector": {"app": "web"},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}
    rt.store.put("namespaces/team/replicationControllers/web", held)
    namespaces.delete(rt, parse(f"{ALL}/team"), b"", {})
    base = "/api/v1/namespaces/team/replicationcontrollers"
    patched = api.patch(f"{base}/web", data=json.dumps({"metadata": {"labels": {"x": "y"}}}),
                        content_type="application/merge-patch+json")
    assert patched.status_code == 200, patched.data
    obj = patched.json
    assert obj is not None
    obj["metadata"]["labels"] = {"x": "z"}
    assert api.put(f"{base}/web", json=obj).status_code == 200
    created = api.post(base, json={**held, "metadata": {"name": "new"}})
    assert created.status_code == 403


def test_the_list_s_version_is_firestores_read_time_not_the_local_clock(rt: Runtime) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from functions.served import resource_version

    ahead = replace(rt, clock=lambda: datetime.now(UTC) + timedelta(seconds=30))
    for setup in (lambda: None, lambda: create_ns(rt, "web")):
        setup()
        listed = namespaces.list_objects(ahead, parse(ALL), {})
        rt.store.client.document("namespaces/later").set({"metadata": {"name": "later"}})
        written = rt.store.get("namespaces/later")
        assert written is not None
        assert int(listed["metadata"]["resourceVersion"]) < int(resource_version(written.update_time))
        rt.store.client.document("namespaces/later").delete()
