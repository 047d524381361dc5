"""labelSelector / fieldSelector: Kubernetes' grammar, matching and words, and the part
pushed into Firestore (checked against the real emulator, 2014 documents included)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from functions.api import kinds
from functions.kubeapi import label_selectors, resources
from functions.kubeapi.field_selectors import parse_field_selector
from functions.kubeapi.label_selectors import parse_label_selector
from functions.kubeapi.status import ApiError
from functions.served import served_object
from functions.store import Store

WEB = {"app": "web", "tier": "front", "n": "5"}


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app=web", WEB, True),
        ("app==web", WEB, True),
        ("app=db", WEB, False),
        ("app!=db", WEB, True),
        ("app!=web", WEB, False),
        ("missing!=x", WEB, True),  # != matches a missing key, as Kubernetes
        ("tier in (front,back)", WEB, True),
        ("tier in (back)", WEB, False),
        ("missing in (x)", WEB, False),
        ("tier notin (back)", WEB, True),
        ("tier notin (front)", WEB, False),
        ("missing notin (x)", WEB, True),
        ("app", WEB, True),
        ("missing", WEB, False),
        ("!missing", WEB, True),
        ("!app", WEB, False),
        ("n>4", WEB, True),
        ("n<5", WEB, False),
        ("app>1", WEB, False),  # not a number: no match
        ("app=web,tier=front", WEB, True),
        ("app=web,tier=back", WEB, False),
        ("  app = web ,  tier in ( front , back ) , ! canary ", WEB, True),
        ("app=", {"app": ""}, True),
        ("app=", WEB, False),
        ("", WEB, True),
        ("", {}, True),
    ],
)
def test_label_operators_match_as_kubernetes(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


def test_equality_terms_are_the_pushdown_and_the_rest_are_not() -> None:
    query = parse_label_selector("app=web,tier==front,env!=prod,zone in (a),canary")
    assert query.equal == {"app": "web", "tier": "front"}
    assert not query.empty
    assert parse_label_selector("").empty


def test_the_text_form_is_kubernetes_sorted_by_key() -> None:
    assert parse_label_selector("z=1,a in (y,x),!m").text() == "a in (x,y),!m,z=1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
        ("a=b=c", "found '=', expected: ',' or 'end of string'"),
        ("a=b,", "found '', expected: identifier after ','"),
        ("=b", "found '=', expected: !, identifier, or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("-a=b", 'unable to parse requirement: key: Invalid value: "-a": name part must consist of'),
        ("a=-b", 'unable to parse requirement: values[a]: Invalid value: "-b": a valid label must be'),
        ("a>x", "unable to parse requirement: values: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must"),
        ("Bad.Prefix/a=b",
         'unable to parse requirement: key: Invalid value: "Bad.Prefix/a": prefix part a lowercase RFC 1123 subdomain'),
    ],
)
def test_a_bad_label_selector_is_a_400_in_kubernetes_words(text: str, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_label_selector(text)
    assert caught.value.code == 400 and caught.value.reason == "BadRequest"
    assert caught.value.message.startswith(message), caught.value.message


def pod(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "prod", "labels": {"app": "web"}},
        "spec": {"nodeName": "vm-1", "containers": [{"name": "c", "image": "nginx"}]},
        "status": status,
    }


@pytest.mark.parametrize(
    ("text", "obj", "expected"),
    [
        ("metadata.name=web-1", pod(), True),
        ("metadata.name==web-2", pod(), False),
        ("metadata.name!=web-2", pod(), True),
        ("metadata.namespace=prod", pod(), True),
        ("spec.nodeName=vm-1", pod(), True),
        ("spec.host=vm-1", pod(), True),  # old clients' name for spec.nodeName
        ("spec.nodeName=", {**pod(), "spec": {}}, True),  # unset compares as ""
        ("spec.nodeName!=", {**pod(), "spec": {}}, False),
        ("spec.restartPolicy=Always", pod(), True),  # what Kubernetes' defaulting stores
        ("spec.schedulerName=default-scheduler", pod(), True),
        ("spec.serviceAccountName=", pod(), True),
        ("spec.hostNetwork=false", pod(), True),
        ("status.phase=Running", pod(phase="Running"), True),
        ("status.phase!=Running", pod(phase="Running"), False),
        ("status.podIP=10.0.0.5", pod(podIP="10.0.0.5"), True),
        ("status.podIP=10.0.0.6", pod(podIPs=[{"ip": "10.0.0.6"}], podIP="10.0.0.5"), True),
        ("status.nominatedNodeName=", pod(), True),
        ("status.phase=Running,spec.nodeName=vm-1", pod(phase="Running"), True),
        ("status.phase=Running,spec.nodeName=vm-2", pod(phase="Running"), False),
    ],
)
def test_pod_fields_match_the_served_object(text: str, obj: dict[str, Any], expected: bool) -> None:
    assert parse_field_selector(resources.PODS, text).matches(obj) is expected


EVENT = {
    "apiVersion": "v1", "kind": "Event",
    "metadata": {"name": "web-1.17a", "namespace": "prod"},
    "involvedObject": {"kind": "Pod", "namespace": "prod", "name": "web-1", "uid": "u-1",
                       "apiVersion": "v1", "resourceVersion": "42", "fieldPath": "spec.containers{c}"},
    "reason": "Started", "type": "Normal", "reportingComponent": "firecontrol",
    "message": "started",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("involvedObject.kind=Pod", True),
        ("involvedObject.namespace=prod", True),
        ("involvedObject.name=web-1", True),
        ("involvedObject.uid=u-1", True),
        ("involvedObject.apiVersion=v1", True),
        ("involvedObject.resourceVersion=42", True),
        ("involvedObject.fieldPath=spec.containers{c}", True),
        ("reason=Started", True),
        ("reason=Killing", False),
        ("type=Warning", False),
        ("reportingComponent=firecontrol", True),
        ("source=firecontrol", True),  # source.component, else the reporting component
        ("metadata.name=web-1.17a", True),
    ],
)
def test_event_fields(text: str, expected: bool) -> None:
    assert parse_field_selector(resources.EVENTS, text).matches(EVENT) is expected


def test_source_prefers_the_source_component() -> None:
    event = {**EVENT, "source": {"component": "kubelet"}}
    assert parse_field_selector(resources.EVENTS, "source=kubelet").matches(event)


@pytest.mark.parametrize("resource", [resources.REPLICATION_CONTROLLERS, resources.REPLICA_SETS])
def test_workload_replicas_compare_as_text(resource: resources.Resource) -> None:
    assert parse_field_selector(resource, "status.replicas=3").matches({"status": {"replicas": 3}})
    assert parse_field_selector(resource, "status.replicas=0").matches({"metadata": {"name": "x"}})


def test_service_and_namespace_fields() -> None:
    service = {"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer"}}
    assert parse_field_selector(resources.SERVICES, "spec.type=LoadBalancer").matches(service)
    assert parse_field_selector(resources.SERVICES, "spec.type=ClusterIP").matches({"spec": {}})
    assert parse_field_selector(resources.SERVICES, "spec.clusterIP=").matches(service)
    namespace = {"metadata": {"name": "prod"}, "status": {"phase": "Terminating"}}
    assert parse_field_selector(resources.NAMESPACES, "status.phase=Terminating").matches(namespace)
    assert parse_field_selector(resources.NAMESPACES, "metadata.name=prod").matches(namespace)


@pytest.mark.parametrize(
    ("resource", "text", "message"),
    [
        (resources.PODS, "spec.containers=x", "field label not supported: spec.containers"),
        (resources.EVENTS, "message=x", "field label not supported: message"),
        (resources.REPLICATION_CONTROLLERS, "spec.replicas=1", "field label not supported: spec.replicas"),
        (resources.SERVICES, "spec.ports=1", "field label not supported: spec.ports"),
        (resources.NAMESPACES, "metadata.namespace=x", "field label not supported: metadata.namespace"),
        (resources.DEPLOYMENTS, "status.replicas=1",
         '"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'),
        (resources.RESOURCE_QUOTAS, "spec.hard=1",
         '"spec.hard" is not a known field selector: only "metadata.name", "metadata.namespace"'),
        (resources.PODS, "status.phase", "invalid selector: 'status.phase'; can't understand 'status.phase'"),
        (resources.PODS, "status.phase=a=b", "invalid field selector: unescaped character in value: ="),
        (resources.PODS, "status.phase=a\\x", "invalid field selector: invalid escape sequence: \\x"),
    ],
)
def test_an_unsupported_or_bad_field_selector_is_a_400(resource: resources.Resource, text: str, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_field_selector(resource, text)
    assert (caught.value.code, caught.value.reason, caught.value.message) == (400, "BadRequest", message)


def test_every_resource_takes_metadata_name() -> None:
    for resource in resources.RESOURCES:
        query = parse_field_selector(resource, "metadata.name=x")
        assert query.matches({"metadata": {"name": "x"}}) and query.name == "x"


def test_escaped_commas_and_equals_are_values() -> None:
    query = parse_field_selector(resources.EVENTS, r"reason=a\,b\=c,type=Normal")
    assert query.matches({**EVENT, "reason": "a,b=c"})


def test_field_pushdown_only_offers_what_firestore_finds_exactly() -> None:
    query = parse_field_selector(
        resources.PODS, "status.phase=Running,spec.restartPolicy=Always,spec.nodeName=vm-1,metadata.namespace=prod"
    )
    assert query.equal == {"status.phase": "Running"}  # restartPolicy is defaulted, nodeName has a 2014 home
    assert query.namespace == "prod" and query.name is None
    assert parse_field_selector(resources.PODS, "status.phase=").equal == {}  # "" = missing: not findable
    assert parse_field_selector(resources.PODS, "status.phase!=Running").equal == {}
    events = parse_field_selector(resources.EVENTS, "involvedObject.name=web-1,reason=Started,source=x")
    assert events.equal == {"involvedObject.name": "web-1", "reason": "Started"}


# ------------------------------------------------------------- against Firestore

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_label_filters_find_v1_and_2014_documents(store: Store) -> None:
    pods = f"namespaces/default/{kinds.POD.collection}"
    store.put(f"{pods}/v1", {"apiVersion": "v1", "kind": "Pod",
                             "metadata": {"name": "v1", "labels": {"app": "web", "app.kubernetes.io/part-of": "shop"}}})
    store.put(f"{pods}/old", {"id": "old", "labels": {"app": "web", "app.kubernetes.io/part-of": "shop"},
                              "desiredState": {"manifest": {"containers": [{"name": "c", "image": "nginx"}]}}})
    store.put(f"{pods}/other", {"metadata": {"name": "other", "labels": {"app": "db"}}})
    query = parse_label_selector("app=web,app.kubernetes.io/part-of=shop,tier!=back")
    (condition,) = label_selectors.label_filters(query)
    found = list(store.client.collection(pods).where(filter=condition).stream())
    assert sorted(s.id for s in found) == ["old", "v1"]
    served = [served_object(kinds.POD, s.to_dict() or {}, s.reference.path, NOW, NOW) for s in found]
    assert all(query.matches(o["metadata"].get("labels") or {}) for o in served)
    assert label_selectors.label_filters(parse_label_selector("tier notin (x)")) == []


def test_field_pushdown_finds_the_matching_events(store: Store) -> None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    events = f"namespaces/default/{kinds.EVENT.collection}"
    store.put(f"{events}/a", {**EVENT, "metadata": {"name": "a"}})
    store.put(f"{events}/b", {**EVENT, "metadata": {"name": "b"}, "reason": "Killing"})
    query = parse_field_selector(resources.EVENTS, "reason=Started,involvedObject.kind=Pod,type!=Warning")
    collection: Any = store.client.collection(events)
    for path, value in query.equal.items():
        collection = collection.where(filter=FieldFilter(path, "==", value))
    found = [s for s in collection.stream()]
    assert [s.id for s in found] == ["a"]
    served = served_object(kinds.EVENT, found[0].to_dict() or {}, found[0].reference.path, NOW, NOW)
    assert query.matches(served)
