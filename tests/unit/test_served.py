"""The served-object codec (functions/served.py) on stored documents of each shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from functions.api.kinds import CONTROLLER, POD, REPLICA_SET
from functions.served import STATUS_ANNOTATION, resource_version, served_object, with_defaults
from tests.helpers import fixture, rc_doc

CREATED = datetime(2025, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC)
UPDATED = datetime(2025, 1, 3, 0, 0, 0, 123_456, tzinfo=UTC)


def serve_pod(data: dict[str, Any]) -> dict[str, Any]:
    return served_object(POD, data, "namespaces/default/pods/web-1", CREATED, UPDATED)


def test_a_2014_controller_is_served_as_v1_with_its_name() -> None:
    doc = fixture("rc-2014.json")
    served = served_object(CONTROLLER, doc, "namespaces/default/replicationControllers/nginx-controller",
                           CREATED, UPDATED)
    assert (served["apiVersion"], served["kind"]) == ("v1", "ReplicationController")
    assert served["metadata"]["name"] == "nginx-controller" and served["metadata"]["namespace"] == "default"
    assert served["metadata"]["creationTimestamp"] == "2025-01-02T03:04:05Z"
    assert served["metadata"]["resourceVersion"] == resource_version(UPDATED)
    assert served["spec"]["replicas"] == 2 and served["spec"]["selector"] == {"name": "nginx"}
    assert "desiredState" not in served and "id" not in served and "labels" not in served


def test_a_defaulted_selector_is_served() -> None:
    doc = rc_doc("web", 2)
    del doc["spec"]["selector"]
    served = served_object(CONTROLLER, doc, "namespaces/default/replicationControllers/web", CREATED, UPDATED)
    assert served["spec"]["selector"] == {"app": "web"}


def test_a_controller_without_labels_is_served_with_its_templates() -> None:
    """The apiserver defaults a ReplicationController's labels from its template's (v1 and
    the 2014 shape alike); labels of its own are kept; apps/v1 kinds default none."""
    doc = rc_doc("web", 2)
    doc["metadata"].pop("labels", None)
    path = "namespaces/default/replicationControllers/web"
    assert served_object(CONTROLLER, doc, path, CREATED, UPDATED)["metadata"]["labels"] == {"app": "web"}
    assert with_defaults(CONTROLLER, doc)["metadata"]["labels"] == {"app": "web"}
    assert "labels" not in doc["metadata"]  # the stored document is not touched
    legacy = fixture("rc-2014.json")
    del legacy["labels"]
    assert with_defaults(CONTROLLER, legacy)["metadata"]["labels"] == {"name": "nginx"}
    own = rc_doc("web", 2)
    own["metadata"]["labels"] = {"tier": "front"}
    assert with_defaults(CONTROLLER, own)["metadata"]["labels"] == {"tier": "front"}
    replica_set = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
                   "spec": {"selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}}
    assert "labels" not in with_defaults(REPLICA_SET, replica_set)["metadata"]


def test_bookkeeping_is_served_under_one_annotation_and_timestamps_are_rfc3339() -> None:
    started = datetime(2025, 1, 2, 9, 0, 0, tzinfo=UTC)
    served = serve_pod({
        "metadata": {"annotations": {"team": "a"}, "resourceVersion": 7},
        "spec": {"nodeName": "fc-web-1", "containers": [{"name": "web", "image": "nginx"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.2", "startTime": started,
                   "vmFingerprint": 123, "vmZone": "us-central1-a", "vmId": "42", "vmAgent": "1",
                   "terminationStarted": started, "createAttempts": 2},
    })
    status, annotations = served["status"], served["metadata"]["annotations"]
    assert status == {"phase": "Running", "podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.2"}],
                      "startTime": "2025-01-02T09:00:00Z"}
    assert annotations["team"] == "a"
    assert json.loads(annotations[STATUS_ANNOTATION]) == {
        "vmFingerprint": 123, "vmZone": "us-central1-a", "vmId": "42", "vmAgent": "1",
        "terminationStarted": "2025-01-02T09:00:00Z", "createAttempts": 2,
    }
    assert served["metadata"]["resourceVersion"] == resource_version(UPDATED)  # never the stored counter


def test_a_pod_stored_with_the_old_spelling_is_served_with_kubernetes_names() -> None:
    served = serve_pod({"spec": {"containers": [{"name": "web", "image": "nginx"}]},
                        "status": {"phase": "Running", "podIp": "10.0.0.2", "hostIp": "10.0.0.3"}})
    assert served["status"] == {"phase": "Running", "podIP": "10.0.0.2", "hostIP": "10.0.0.3",
                                "podIPs": [{"ip": "10.0.0.2"}], "hostIPs": [{"ip": "10.0.0.3"}]}
    assert "annotations" not in served["metadata"]


def test_a_2014_pod_with_what_the_functions_wrote_is_served_whole() -> None:
    doc = fixture("redis-master-2014.json")
    doc["spec"] = {"nodeName": "fc-redis"}
    doc["metadata"] = {"finalizers": ["firecontrol.io/instance"]}
    served = served_object(POD, doc, "namespaces/default/pods/redis-master-2", CREATED, UPDATED)
    assert served["spec"]["nodeName"] == "fc-redis"
    assert served["spec"]["containers"][0]["ports"] == [{"containerPort": 6379, "hostPort": 6379}]
    assert served["metadata"]["finalizers"] == ["firecontrol.io/instance"]
    assert served["metadata"]["labels"] == {"name": "redis-master"}


def test_the_bookkeeping_annotation_is_ignored_when_written_back() -> None:
    from functions.api import shapes

    stored = {"metadata": {"name": "web", "uid": "u"}, "spec": {"replicas": 1}, "status": {"specHash": "x"}}
    written = {"metadata": {"name": "web", "annotations": {STATUS_ANNOTATION: '{"specHash":"x"}'}},
               "spec": {"replicas": 1}}
    assert shapes.merged(CONTROLLER, written, stored) == stored
    written["metadata"]["annotations"]["team"] = "a"  # type: ignore[index]
    assert shapes.merged(CONTROLLER, written, stored)["metadata"]["annotations"] == {"team": "a"}
