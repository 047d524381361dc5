"""kube_api's DELETE on the Firestore emulator: each kind and propagationPolicy writes the
marks the functions act on (docs/kube-api.md §8), preconditions, deletecollection."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions import fingerprint
from functions.kubeapi import deletion
from functions.kubeapi.objects import Reply, serve
from functions.kubeapi.routes import parse
from functions.kubeapi.status import ApiError
from functions.runtime import Runtime

NS = "/api/v1/namespaces/default"


def put_doc(rt: Runtime, path: str, data: dict[str, Any]) -> None:
    rt.store.put(path, data)


def a_pod(rt: Runtime, name: str = "p", finalizers: list[str] | None = None, labels: dict[str, str] | None = None) -> str:
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "labels": labels or {}}
    if finalizers is not None:
        meta["finalizers"] = finalizers
    path = f"namespaces/default/pods/{name}"
    put_doc(rt, path, {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                       "spec": {"containers": [{"name": "web", "image": "nginx"}]},
                       "status": {"phase": "Running", "vmFingerprint": 123}})
    return path


def an_rc(rt: Runtime, name: str = "web") -> str:
    path = f"namespaces/default/replicationControllers/{name}"
    put_doc(rt, path, {"apiVersion": "v1", "kind": "ReplicationController",
                       "metadata": {"name": name, "uid": f"uid-{name}"},
                       "spec": {"replicas": 1, "selector": {"app": "web"},
                                "template": {"metadata": {"labels": {"app": "web"}},
                                             "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})
    return path


def delete(rt: Runtime, path: str, body: dict[str, Any] | None = None, query: dict[str, str] | None = None) -> Reply:
    raw = json.dumps(body).encode() if body is not None else b""
    return deletion.delete(rt, parse(path), raw, query or {})


def error_of(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


def test_a_pod_with_a_finalizer_is_marked_and_answered(rt: Runtime) -> None:
    path = a_pod(rt, finalizers=["firecontrol.io/vm"])
    reply = delete(rt, f"{NS}/pods/p", {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5})
    assert reply.code == 200 and reply.body["kind"] == "Pod"
    assert reply.body["metadata"]["deletionTimestamp"].endswith("Z")
    assert reply.body["metadata"]["deletionGracePeriodSeconds"] == 5
    stored = rt.store.get(path)
    assert stored is not None
    assert stored.data["status"]["vmFingerprint"] == fingerprint.LEAVING
    assert stored.data["metadata"]["finalizers"] == ["firecontrol.io/vm"]


def test_deleting_a_marked_pod_answers_it_again_without_a_write(rt: Runtime) -> None:
    path = a_pod(rt, finalizers=["firecontrol.io/vm"])
    delete(rt, f"{NS}/pods/p")
    before = rt.store.get(path)
    reply = delete(rt, f"{NS}/pods/p")
    after = rt.store.get(path)
    assert before is not None and after is not None and after.update_time == before.update_time
    assert reply.body["metadata"]["resourceVersion"] == serve(parse(f"{NS}/pods/p").resource,
                                                                        after)["metadata"]["resourceVersion"]


def test_a_pod_without_finalizers_is_deleted_at_once(rt: Runtime) -> None:
    path = a_pod(rt)
    reply = delete(rt, f"{NS}/pods/p")
    assert reply.body["kind"] == "Status" and reply.body["status"] == "Success"
    assert reply.body["details"] == {"name": "p", "kind": "pods", "uid": "uid-p"}
    assert rt.store.get(path) is None


def test_a_service_with_its_load_balancer_is_marked(rt: Runtime) -> None:
    path = "namespaces/default/services/s"
    put_doc(rt, path, {"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "s", "finalizers": ["firecontrol.io/load-balancer"]},
                       "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "selector": {"a": "b"}}})
    reply = delete(rt, f"{NS}/services/s")
    assert reply.body["kind"] == "Service" and "deletionTimestamp" in reply.body["metadata"]
    stored = rt.store.get(path)
    assert stored is not None and "vmFingerprint" not in stored.data.get("status", {})


def test_background_deletes_a_controller_document(rt: Runtime) -> None:
    path = an_rc(rt)
    reply = delete(rt, f"{NS}/replicationcontrollers/web", None, {"propagationPolicy": "Background"})
    assert reply.body["status"] == "Success" and reply.body["details"]["uid"] == "uid-web"
    assert rt.store.get(path) is None


def test_the_default_policy_is_background(rt: Runtime) -> None:
    path = an_rc(rt)
    delete(rt, f"{NS}/replicationcontrollers/web")
    assert rt.store.get(path) is None


@pytest.mark.parametrize(("policy", "finalizer"), [("Foreground", "foregroundDeletion"), ("Orphan", "orphan")])
def test_foreground_and_orphan_mark_the_controller(rt: Runtime, policy: str, finalizer: str) -> None:
    path = an_rc(rt)
    reply = delete(rt, f"{NS}/replicationcontrollers/web", {"propagationPolicy": policy})
    assert reply.body["kind"] == "ReplicationController"
    assert reply.body["metadata"]["finalizers"] == [finalizer]
    stored = rt.store.get(path)
    assert stored is not None
    assert stored.data["metadata"]["finalizers"] == [finalizer]
    assert stored.data["metadata"]["deletionTimestamp"] is not None


def test_orphan_dependents_false_is_background(rt: Runtime) -> None:
    path = an_rc(rt)
    delete(rt, f"{NS}/replicationcontrollers/web", {"orphanDependents": False})
    assert rt.store.get(path) is None


def test_a_deployment_in_foreground_is_marked(rt: Runtime) -> None:
    path = "namespaces/default/deployments/d"
    put_doc(rt, path, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                                "template": {"metadata": {"labels": {"a": "b"}},
                                             "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})
    reply = delete(rt, "/apis/apps/v1/namespaces/default/deployments/d", None, {"propagationPolicy": "Foreground"})
    assert reply.body["metadata"]["finalizers"] == ["foregroundDeletion"]


def test_a_stale_uid_precondition_is_409_and_deletes_nothing(rt: Runtime) -> None:
    path = an_rc(rt)
    error = error_of(delete, rt, f"{NS}/replicationcontrollers/web", {"preconditions": {"uid": "other"}})
    assert (error.code, error.reason) == (409, "Conflict")
    assert "Precondition failed: UID in precondition: other, UID in object meta: uid-web" in error.message
    assert rt.store.get(path) is not None


def test_a_stale_resource_version_precondition_is_409(rt: Runtime) -> None:
    path = an_rc(rt)
    error = error_of(delete, rt, f"{NS}/replicationcontrollers/web", {"preconditions": {"resourceVersion": "1"}})
    assert error.code == 409
    doc = rt.store.get(path)
    assert doc is not None
    current = serve(parse(f"{NS}/replicationcontrollers/web").resource, doc)["metadata"]
    delete(rt, f"{NS}/replicationcontrollers/web",
           {"preconditions": {"uid": "uid-web", "resourceVersion": current["resourceVersion"]}})
    assert rt.store.get(path) is None


def test_an_unknown_policy_is_422(rt: Runtime) -> None:
    an_rc(rt)
    error = error_of(delete, rt, f"{NS}/replicationcontrollers/web", None, {"propagationPolicy": "Sideways"})
    assert error.code == 422 and [c.field for c in error.causes] == ["propagationPolicy"]


def test_dry_run_deletes_nothing(rt: Runtime) -> None:
    path = an_rc(rt)
    reply = delete(rt, f"{NS}/replicationcontrollers/web", None, {"dryRun": "All"})
    assert reply.body["status"] == "Success"
    assert rt.store.get(path) is not None
    pod_path = a_pod(rt, finalizers=["firecontrol.io/vm"])
    marked = delete(rt, f"{NS}/pods/p", {"dryRun": ["All"]})
    assert "deletionTimestamp" in marked.body["metadata"]
    stored = rt.store.get(pod_path)
    assert stored is not None and "deletionTimestamp" not in stored.data["metadata"]


def test_a_missing_object_is_404(rt: Runtime) -> None:
    error = error_of(delete, rt, f"{NS}/pods/nothing")
    assert (error.code, error.message) == (404, 'pods "nothing" not found')


def test_deletecollection_deletes_what_the_selectors_match(rt: Runtime) -> None:
    a_pod(rt, "a", labels={"app": "x"})
    a_pod(rt, "b", labels={"app": "x"}, finalizers=["firecontrol.io/vm"])
    a_pod(rt, "c", labels={"app": "y"})
    reply = deletion.delete_collection(rt, parse(f"{NS}/pods"), b"", {"labelSelector": "app=x"})
    assert reply.body["status"] == "Success"
    assert rt.store.get("namespaces/default/pods/a") is None
    marked = rt.store.get("namespaces/default/pods/b")
    assert marked is not None and marked.data["metadata"]["deletionTimestamp"] is not None
    assert rt.store.get("namespaces/default/pods/c") is not None
    deletion.delete_collection(rt, parse(f"{NS}/pods"), b"", {"fieldSelector": "metadata.name=c"})
    assert rt.store.get("namespaces/default/pods/c") is None


def test_http_delete_with_options_in_the_body(rt: Runtime, api: FlaskClient) -> None:
    path = an_rc(rt)
    reply = api.delete(f"{NS}/replicationcontrollers/web",
                       json={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"})
    assert reply.status_code == 200 and reply.json is not None
    assert reply.json["metadata"]["finalizers"] == ["orphan"]
    stored = rt.store.get(path)
    assert stored is not None and stored.data["metadata"]["finalizers"] == ["orphan"]


def test_delete_options_nested_past_the_parser_are_400(rt: Runtime) -> None:
    an_rc(rt)
    error = error_of(deletion.delete, rt, parse(f"{NS}/replicationcontrollers/web"), b"[" * 200000, {})
    assert error.code == 400 and "nested" in error.message
    assert rt.store.get("namespaces/default/replicationControllers/web") is not None


@pytest.mark.parametrize("finalizers", [["orphan"], ["foregroundDeletion"], ["example.com/hold"], []])
def test_a_background_delete_never_deletes_an_owner_held_by_finalizers(rt: Runtime, finalizers: list[str]) -> None:
    """Mid-orphan, a second ``kubectl delete rc web`` must not delete the controller: its
    pods would then be collected before they are released."""
    path = an_rc(rt)
    meta: dict[str, Any] = {"finalizers": finalizers} if finalizers else {}
    if finalizers != ["example.com/hold"]:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    rt.store.client.document(path).update({f"metadata.{k}": v for k, v in meta.items()})
    reply = delete(rt, f"{NS}/replicationcontrollers/web")
    doc = rt.store.get(path)
    assert doc is not None, "deleted while held"
    assert reply.body["kind"] == "ReplicationController" and reply.body["metadata"]["deletionTimestamp"]
    assert doc.data["metadata"].get("finalizers", []) == finalizers
    assert doc.data["metadata"]["deletionTimestamp"] is not None


def test_a_namespace_delete_marks_an_owner_held_by_a_finalizer(rt: Runtime) -> None:
    from functions.kubeapi import namespaces

    path = an_rc(rt)
    rt.store.client.document(path).update({"metadata.finalizers": ["orphan"]})
    rt.store.put("namespaces/team/replicationControllers/held", rt.store.get(path).data)  # type: ignore[union-attr]
    namespaces.empty(rt, "team")
    doc = rt.store.get("namespaces/team/replicationControllers/held")
    assert doc is not None and doc.data["metadata"]["deletionTimestamp"] is not None
