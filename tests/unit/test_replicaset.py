"""The ReplicaSet's parse and its pass, as pure functions; its status against the
Kubernetes client's schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.api.parse import parse_replicaset, parse_replicaset_status
from functions.api.replicaset import ReplicaSetStatus
from functions.config import Settings
from functions.controllers.replica_kinds import (
    REPLICA_SET,
    REPLICATION_CONTROLLER,
    controller_uid,
    kind_of_path,
    owner_ref,
)
from functions.controllers.replication import plan_sync, pods_at_rest
from functions.pod_policy import PodInfo
from functions.store import Create, Doc, RecordEvent, Update

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=1)
PATH = "namespaces/default/replicaSets/web"
UID = controller_uid(PATH, CREATED)
MINE = owner_ref("web", UID, REPLICA_SET)
SETTINGS = Settings(project="unit", slow_start=False)
TEMPLATE = {"metadata": {"labels": {"app": "web", "tier": "front"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}
SELECTOR = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}

# V1ReplicaSetStatus and V1ReplicaSetCondition (kubernetes-client/python, release-1.36):
# their JSON fields, used when the client itself is not installed.
K8S_STATUS_FIELDS = {"availableReplicas", "conditions", "fullyLabeledReplicas", "observedGeneration",
                     "readyReplicas", "replicas", "terminatingReplicas"}
K8S_CONDITION_FIELDS = {"lastTransitionTime", "message", "reason", "status", "type"}
OWN_FIELDS = {"specHash", "finishedPods", "slowStart", "templateHash", "templateSince"}


def rs_data(replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": SELECTOR, "template": TEMPLATE, **spec}}


def rs(replicas: int = 3, **spec: Any) -> Doc:
    return Doc(PATH, rs_data(replicas, **spec), NOW - timedelta(minutes=1), CREATED)


def pod(name: str, *, owner: dict[str, Any] | None = MINE, labels: dict[str, str] | None = None,
        **fields: Any) -> PodInfo:
    return PodInfo(path=f"namespaces/default/pods/{name}", name=name, update_time=NOW,
                   labels={"app": "web", "tier": "front"} if labels is None else labels,
                   owner_references=[owner] if owner else [], **fields)


def status_of(plan: Any) -> dict[str, Any]:
    [update] = [w for w in plan.writes if isinstance(w, Update) and w.path == PATH]
    status: dict[str, Any] = update.fields["status"]
    return status


def test_parse_a_valid_replica_set() -> None:
    parsed = parse_replicaset(rs_data(), "default", "web", 100)
    assert parsed.ok and parsed.obj is not None
    assert parsed.obj.spec.selector.text() == "app=web,tier in (front)"
    assert parsed.obj.spec.replicas == 3 and parsed.obj.name == "web"


@pytest.mark.parametrize(("data", "expected"), [
    ({"apiVersion": "v1"}, "apiVersion: 'v1' is not supported; use 'apps/v1'"),
    ({"kind": "ReplicationController"}, "kind: 'ReplicationController' is not 'ReplicaSet'"),
    ({"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "db"}}, "template": TEMPLATE}},
     "spec.template.metadata.labels: Invalid value: {app=web,tier=front}: `selector` does not match template `labels`"),
    ({"spec": {"replicas": 1, "selector": {}, "template": TEMPLATE}},
     "spec.selector: Invalid value: {}: empty selector is invalid for deployment"),
    ({"spec": {"replicas": 1, "template": TEMPLATE}}, "spec.selector: Required value"),
    ({"spec": {"replicas": 500, "selector": SELECTOR, "template": TEMPLATE}}, "spec.replicas: 500 is over"),
    ({"spec": {"replicas": 1, "selector": SELECTOR,
               "template": {**TEMPLATE, "spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}}},
     "spec.template.spec.restartPolicy: Unsupported value: \"Never\""),
])
def test_parse_refuses_with_kubernetes_messages(data: dict[str, Any], expected: str) -> None:
    parsed = parse_replicaset({**rs_data(), **data}, "default", "web", 100)
    assert not parsed.ok
    assert any(e.startswith(expected) for e in parsed.errors), parsed.errors


@pytest.mark.parametrize("doc", [None, [], "x", {"spec": "x"}, {"spec": {"selector": 3, "template": TEMPLATE}},
                                 {"metadata": {"name": "other"}, "spec": rs_data()["spec"]}])
def test_parse_never_raises_on_garbage(doc: Any) -> None:
    parsed = parse_replicaset(doc, "default", "web", 100)
    assert not parsed.ok and parsed.errors


def test_a_legacy_looking_document_is_not_converted() -> None:
    """The 2014 shapes are replication controllers'; an apps/v1 object is read as written."""
    parsed = parse_replicaset({"id": "web", "desiredState": {}}, "default", "web", 100)
    assert not parsed.legacy and not parsed.ok


def test_plan_creates_pods_owned_by_the_replica_set() -> None:
    plan = plan_sync(rs(3), [pod("web-aaaaa")], SETTINGS, NOW, kind=REPLICA_SET)
    creates = [w for w in plan.writes if isinstance(w, Create)]
    assert len(creates) == 2
    for create in creates:
        assert create.data["metadata"]["ownerReferences"] == [MINE]
        assert MINE["apiVersion"] == "apps/v1" and MINE["kind"] == "ReplicaSet"
        assert create.data["metadata"]["labels"] == {"app": "web", "tier": "front"}
    events = [w for w in plan.writes if isinstance(w, RecordEvent)]
    assert [e.involved["kind"] for e in events] == ["ReplicaSet"]
    assert status_of(plan)["terminatingReplicas"] == 0


def test_plan_counts_terminating_pods_marked_and_already_leaving() -> None:
    pods = [pod("a", finalizers=["x"]), pod("b", finalizers=["x"]), pod("c", being_deleted=True)]
    plan = plan_sync(rs(1), pods, SETTINGS, NOW, kind=REPLICA_SET)
    assert len(plan.deleting) == 1
    assert status_of(plan)["terminatingReplicas"] == 2  # c, and the one this pass marks


def test_a_pod_of_an_rc_is_never_adopted() -> None:
    rc_ref = owner_ref("web", "another-uid", REPLICATION_CONTROLLER)
    plan = plan_sync(rs(1), [pod("theirs", owner=rc_ref)], SETTINGS, NOW, kind=REPLICA_SET)
    assert not plan.adopting and len(plan.creating) == 1
    assert not [w for w in plan.writes if getattr(w, "path", "").endswith("/theirs")]


def test_orphans_matching_the_expressions_are_adopted_others_not() -> None:
    orphans = [pod("fits", owner=None), pod("back", owner=None, labels={"app": "web", "tier": "back"})]
    plan = plan_sync(rs(1), orphans, SETTINGS, NOW, kind=REPLICA_SET)
    assert plan.adopting == ["fits"] and not plan.creating


def test_at_rest_only_without_terminating_pods() -> None:
    plan = plan_sync(rs(0), [], SETTINGS, NOW, kind=REPLICA_SET)
    status = status_of(plan)
    data = {**rs_data(0), "status": status}
    assert pods_at_rest(Doc(PATH, data, NOW, CREATED), SETTINGS, REPLICA_SET) is not None
    leaving = {**data, "status": {**status, "terminatingReplicas": 1}}
    assert pods_at_rest(Doc(PATH, leaving, NOW, CREATED), SETTINGS, REPLICA_SET) is None


def test_kind_of_path() -> None:
    assert kind_of_path(PATH) is REPLICA_SET
    assert kind_of_path("namespaces/default/replicationControllers/web") is REPLICATION_CONTROLLER
    assert kind_of_path("namespaces/default/pods/web") is None


def test_the_status_is_a_kubernetes_replica_set_status() -> None:
    """Every field we write is V1ReplicaSetStatus's (or firecontrol's own, kept apart), and
    the Kubernetes client reads it back without losing one, where it is installed."""
    pods = [pod("a", phase="Running", ready=True, ready_since=NOW - timedelta(hours=1)),
            pod("b", being_deleted=True)]
    plan = plan_sync(rs(2), pods, SETTINGS, NOW, kind=REPLICA_SET)
    status = status_of(plan)
    status["conditions"] = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                             "message": "m", "lastTransitionTime": NOW}]
    kubernetes_part = {k: v for k, v in status.items() if k not in OWN_FIELDS}
    assert set(kubernetes_part) <= K8S_STATUS_FIELDS, set(kubernetes_part) - K8S_STATUS_FIELDS
    assert {"replicas", "terminatingReplicas", "availableReplicas", "readyReplicas"} <= set(kubernetes_part)
    assert set(status["conditions"][0]) <= K8S_CONDITION_FIELDS
    assert (status["replicas"], status["readyReplicas"], status["terminatingReplicas"]) == (2, 1, 1)
    assert parse_replicaset_status({"status": status}) == ReplicaSetStatus.model_validate(status)
    try:
        import kubernetes  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    client = kubernetes.client.ApiClient()
    wire = {**kubernetes_part, "conditions": [{**status["conditions"][0], "lastTransitionTime": NOW.isoformat()}]}

    text = __import__("json").dumps(wire)
    try:  # newer clients (37 here) take the text and a content type
        model = client.deserialize(text, "V1ReplicaSetStatus", "application/json")
    except (TypeError, AttributeError):
        class Response:
            data = text

        model = client.deserialize(Response(), "V1ReplicaSetStatus")
    assert client.sanitize_for_serialization(model) == wire
