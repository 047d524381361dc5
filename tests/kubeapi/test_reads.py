"""get and list through the handler, on the Firestore emulator: 404s, selectors (2014
documents too), every namespace, and pages that are one snapshot however the data moves."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from kubernetes.client import ApiClient

from functions.kubeapi import reads, routes
from functions.runtime import Runtime
from functions.served import resource_version
from functions.store import CONTROLLERS, EVENTS, PODS, doc_path
from tests.helpers import fixture, ok_json, pod_doc, rc_doc, write_rc

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


def put_pod(rt: Runtime, name: str, labels: dict[str, str], namespace: str = "default", **extra: Any) -> None:
    rt.store.client.document(doc_path(namespace, PODS, name)).set(pod_doc(name, labels, **extra))


def names(listed: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in listed["items"]]


def test_get_serves_the_object(api: FlaskClient, rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 2))
    obj = ok_json(api.get("/api/v1/namespaces/default/replicationcontrollers/web"))
    assert (obj["apiVersion"], obj["kind"], obj["metadata"]["name"], obj["metadata"]["namespace"]) == (
        "v1", "ReplicationController", "web", "default")
    stored = rt.store.get(doc_path("default", CONTROLLERS, "web"))
    assert stored is not None and obj["metadata"]["resourceVersion"] == resource_version(stored.update_time)
    model = ApiClient()._ApiClient__deserialize(obj, "V1ReplicationController")  # type: ignore[attr-defined]
    assert model.spec.replicas == 2


def test_get_of_a_missing_object_is_404_in_kubernetes_words(api: FlaskClient) -> None:
    reply = api.get("/api/v1/namespaces/default/pods/nope")
    assert reply.status_code == 404
    assert reply.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": 'pods "nope" not found', "reason": "NotFound",
                          "details": {"name": "nope", "kind": "pods"}, "code": 404}
    apps = api.get("/apis/apps/v1/namespaces/default/deployments/nope")
    assert apps.status_code == 404 and apps.json is not None
    assert apps.json["message"] == 'deployments.apps "nope" not found'


def test_a_name_firestore_cannot_hold_is_404(api: FlaskClient) -> None:
    assert api.get("/api/v1/namespaces/default/pods/__x__").status_code == 404


def test_list_is_a_kind_list_at_the_read_time(api: FlaskClient, rt: Runtime) -> None:
    for name in ("b", "a", "c"):
        put_pod(rt, name, {"app": name})
    put_pod(rt, "other", {"app": "x"}, namespace="elsewhere")
    listed = ok_json(api.get("/api/v1/namespaces/default/pods"))
    assert (listed["kind"], listed["apiVersion"]) == ("PodList", "v1")
    assert names(listed) == ["a", "b", "c"]
    assert "continue" not in listed["metadata"]
    newest = max(int(item["metadata"]["resourceVersion"]) for item in listed["items"])
    assert int(listed["metadata"]["resourceVersion"]) >= newest
    model = ApiClient()._ApiClient__deserialize(listed, "V1PodList")  # type: ignore[attr-defined]
    assert len(model.items) == 3


def test_an_empty_list_still_has_a_resource_version(api: FlaskClient) -> None:
    listed = ok_json(api.get("/apis/apps/v1/namespaces/default/deployments"))
    assert listed["kind"] == "DeploymentList" and listed["apiVersion"] == "apps/v1" and listed["items"] == []
    assert listed["metadata"]["resourceVersion"].isdigit()


def test_an_empty_lists_version_is_firestores_read_time_not_the_local_clock(rt: Runtime) -> None:
    """A host clock ahead of Firestore's must not make an empty list's version later than
    what is written next: a watch from it would take that write as already known."""
    ahead = replace(rt, clock=lambda: datetime.now(UTC) + timedelta(seconds=30))
    route = routes.parse("/api/v1/namespaces/default/pods")
    for query in ({}, {"fieldSelector": "metadata.namespace=other"}):  # the second contradicts the route
        listed = reads.list_objects(ahead, route, query)
        assert listed["items"] == []
        rt.store.client.document(doc_path("default", PODS, "later")).set(pod_doc("later", {}))
        written = rt.store.get(doc_path("default", PODS, "later"))
        assert written is not None
        assert int(listed["metadata"]["resourceVersion"]) < int(resource_version(written.update_time))
        rt.store.client.document(doc_path("default", PODS, "later")).delete()


def test_every_namespace_ordered_by_path(api: FlaskClient, rt: Runtime) -> None:
    put_pod(rt, "z", {"app": "a"}, namespace="a-ns")
    put_pod(rt, "a", {"app": "a"}, namespace="b-ns")
    put_pod(rt, "m", {"app": "a"}, namespace="a-ns")
    listed = ok_json(api.get("/api/v1/pods"))
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]] == [
        ("a-ns", "m"), ("a-ns", "z"), ("b-ns", "a")]
    one = ok_json(api.get("/api/v1/pods?fieldSelector=metadata.namespace%3Db-ns"))
    assert names(one) == ["a"]


def test_label_selectors_find_v1_and_2014_documents(api: FlaskClient, rt: Runtime) -> None:
    for name in ("web", "db"):
        doc = rc_doc(name, 1, app=name)
        doc["metadata"]["labels"] = {"app": name}
        write_rc(rt.store, doc)
    old = fixture("rc-2014.json")  # labels {"name": "nginx"} at the top level
    write_rc(rt.store, old)
    base = "/api/v1/namespaces/default/replicationcontrollers"
    assert names(ok_json(api.get(f"{base}?labelSelector=name%3Dnginx"))) == ["nginx-controller"]
    assert names(ok_json(api.get(f"{base}?labelSelector=app%3Dweb"))) == ["web"]
    assert names(ok_json(api.get(f"{base}?labelSelector=app+in+(web,db)"))) == ["db", "web"]
    assert names(ok_json(api.get(f"{base}?labelSelector=app!%3Dweb"))) == ["db", "nginx-controller"]
    assert names(ok_json(api.get(f"{base}?labelSelector=!app"))) == ["nginx-controller"]
    every = ok_json(api.get("/api/v1/replicationcontrollers?labelSelector=name%3Dnginx"))
    assert names(every) == ["nginx-controller"]


def test_a_bad_selector_is_400(api: FlaskClient) -> None:
    reply = api.get("/api/v1/namespaces/default/pods?labelSelector=a%20in%20")
    assert reply.status_code == 400 and reply.json is not None and reply.json["reason"] == "BadRequest"
    field = api.get("/api/v1/namespaces/default/pods?fieldSelector=spec.foo%3Dx")
    assert field.status_code == 400 and field.json is not None
    assert "field label not supported: spec.foo" in field.json["message"]


def test_field_selectors(api: FlaskClient, rt: Runtime) -> None:
    put_pod(rt, "run", {"app": "a"}, status={"phase": "Running"})
    put_pod(rt, "wait", {"app": "a"})
    base = "/api/v1/namespaces/default/pods"
    assert names(ok_json(api.get(f"{base}?fieldSelector=status.phase%3DRunning"))) == ["run"]
    assert names(ok_json(api.get(f"{base}?fieldSelector=status.phase!%3DRunning"))) == ["wait"]
    assert names(ok_json(api.get(f"{base}?fieldSelector=metadata.name%3Dwait"))) == ["wait"]
    assert names(ok_json(api.get(f"{base}?fieldSelector=metadata.namespace%3Dother"))) == []


def test_events_by_involved_object_as_describe_asks(api: FlaskClient, rt: Runtime) -> None:
    for event_id, name in (("e1", "web"), ("e2", "db")):
        rt.store.client.document(doc_path("default", EVENTS, event_id)).set({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": event_id, "namespace": "default"},
            "involvedObject": {"kind": "ReplicationController", "namespace": "default", "name": name},
            "reason": "SuccessfulCreate", "message": "made a pod", "type": "Normal",
        })
    query = "fieldSelector=involvedObject.name%3Dweb,involvedObject.namespace%3Ddefault,involvedObject.kind%3D" \
            "ReplicationController"
    assert names(ok_json(api.get(f"/api/v1/namespaces/default/events?{query}"))) == ["e1"]


def test_pages_are_one_snapshot(api: FlaskClient, rt: Runtime) -> None:
    for name in ("a", "b", "c", "d", "e"):
        put_pod(rt, name, {"app": "x"})
    base = "/api/v1/namespaces/default/pods"
    first = ok_json(api.get(f"{base}?limit=2"))
    assert names(first) == ["a", "b"]
    assert first["metadata"]["remainingItemCount"] == 3
    rv = first["metadata"]["resourceVersion"]
    # The data moves between pages: a new pod after the cursor, one deleted, one changed.
    put_pod(rt, "bb", {"app": "x"})
    rt.store.client.document(doc_path("default", PODS, "d")).delete()
    put_pod(rt, "c", {"app": "changed"})
    second = ok_json(api.get(f"{base}?limit=2&continue={first['metadata']['continue']}"))
    assert names(second) == ["c", "d"]
    assert second["items"][0]["metadata"]["labels"] == {"app": "x"}
    assert second["metadata"]["resourceVersion"] == rv
    third = ok_json(api.get(f"{base}?limit=2&continue={second['metadata']['continue']}"))
    assert names(third) == ["e"] and "continue" not in third["metadata"]
    assert names(ok_json(api.get(base))) == ["a", "b", "bb", "c", "e"]  # a fresh list sees the moves


def test_pages_with_a_selector_fill_up_past_what_does_not_match(api: FlaskClient, rt: Runtime) -> None:
    for index, name in enumerate("abcdefg"):
        put_pod(rt, name, {"app": "x", "n": str(index % 3)})
    base = "/api/v1/namespaces/default/pods?labelSelector=n!%3D1&limit=2"
    seen: list[str] = []
    token = ""
    for _ in range(5):
        page = ok_json(api.get(base + (f"&continue={token}" if token else "")))
        assert len(page["items"]) <= 2 and "remainingItemCount" not in page["metadata"]
        seen += names(page)
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert seen == ["a", "c", "d", "f", "g"]


def test_pages_over_every_namespace(api: FlaskClient, rt: Runtime) -> None:
    for namespace in ("n1", "n2"):
        for name in ("p", "q"):
            put_pod(rt, name, {"app": "x"}, namespace=namespace)
    first = ok_json(api.get("/api/v1/pods?limit=3"))
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in first["items"]] == [
        ("n1", "p"), ("n1", "q"), ("n2", "p")]
    second = ok_json(api.get(f"/api/v1/pods?limit=3&continue={first['metadata']['continue']}"))
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in second["items"]] == [("n2", "q")]


def token(rv: str, start: str) -> str:
    text = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_an_old_continue_token_is_410_expired(api: FlaskClient, rt: Runtime) -> None:
    old = resource_version(rt.clock() - timedelta(hours=2))
    reply = api.get(f"/api/v1/namespaces/default/pods?limit=1&continue={token(old, 'namespaces/default/pods/a')}")
    assert reply.status_code == 410 and reply.json is not None and reply.json["reason"] == "Expired"


def test_a_bad_continue_token_is_400(api: FlaskClient, rt: Runtime) -> None:
    base = "/api/v1/namespaces/default/pods?limit=1&continue="
    now = resource_version(rt.clock())
    for bad in ("!!!", token("x", "namespaces/default/pods/a"), token(now, "namespaces/other/pods/a")):
        reply = api.get(base + bad)
        assert reply.status_code == 400, bad
        assert reply.json is not None and reply.json["message"].startswith("continue key is not valid")


def test_table_when_kubectl_asks(api: FlaskClient, rt: Runtime) -> None:
    put_pod(rt, "a", {"app": "x"})
    table = ok_json(api.get("/api/v1/namespaces/default/pods?limit=500", headers={"Accept": TABLE}))
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"]][:2] == ["Name", "Ready"]
    assert table["rows"][0]["cells"][0] == "a"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table["metadata"]["resourceVersion"].isdigit()
    one = ok_json(api.get("/api/v1/namespaces/default/pods/a?includeObject=Object", headers={"Accept": TABLE}))
    assert one["kind"] == "Table" and one["rows"][0]["object"]["kind"] == "Pod"
    plain = ok_json(api.get("/api/v1/namespaces/default/pods/a", headers={"Accept": "application/json"}))
    assert plain["kind"] == "Pod"


def test_only_forms_we_cannot_serve_is_406(api: FlaskClient) -> None:
    reply = api.get("/api/v1/namespaces/default/pods",
                    headers={"Accept": "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"})
    assert reply.status_code == 406 and reply.json is not None and reply.json["reason"] == "NotAcceptable"


def test_a_label_selector_finds_a_controller_stored_without_labels(api: FlaskClient, rt: Runtime) -> None:
    """A controller stored without ``metadata.labels`` is served with its template's: the
    selector matches it, so Firestore must not be asked for the stored labels."""
    bare = rc_doc("bare", 1, "web")
    bare["metadata"].pop("labels", None)
    write_rc(rt.store, bare)
    legacy = fixture("rc-2014.json")
    legacy.pop("labels", None)
    write_rc(rt.store, legacy)
    served_legacy = ok_json(api.get(f"/api/v1/namespaces/default/replicationcontrollers/{legacy['id']}"))
    key, value = next(iter(served_legacy["metadata"]["labels"].items()))
    base = "/api/v1/namespaces/default/replicationcontrollers"
    assert names(ok_json(api.get(base, query_string={"labelSelector": "app=web"}))) == ["bare"]
    assert legacy["id"] in names(ok_json(api.get(base, query_string={"labelSelector": f"{key}={value}"})))
    assert "bare" in names(ok_json(api.get("/api/v1/replicationcontrollers", query_string={"labelSelector": "app=web"})))
