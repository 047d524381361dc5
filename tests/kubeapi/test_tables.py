"""The Table form: the apiserver's columns (names, types, formats, priorities) and cells
for served objects of each kind, the row object per ``includeObject``, and the list's
metadata; row objects and list metadata deserialize into the official client's models."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.api import kinds
from functions.api.kinds import Kind
from functions.kubeapi import resources, tables
from functions.kubeapi.resources import Resource
from functions.kubeapi.status import ApiError
from functions.served import served_object
from tests.helpers import client_round_trip, instants

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
CREATED = NOW - timedelta(minutes=5, seconds=30)  # Age "5m30s"


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def serve(kind: Kind, doc: dict[str, Any], name: str = "x", namespace: str = "prod") -> dict[str, Any]:
    return served_object(kind, copy.deepcopy(doc), f"namespaces/{namespace}/{kind.collection}/{name}",
                         CREATED, NOW - timedelta(seconds=1))


def cells(resource: Resource, obj: dict[str, Any]) -> list[Any]:
    (row,) = tables.table(resource, [obj], NOW)["rows"]
    result: list[Any] = row["cells"]
    return result


def names(resource: Resource) -> list[tuple[str, int]]:
    return [(c["name"], c["priority"]) for c in tables.table(resource, [], NOW)["columnDefinitions"]]


# ------------------------------------------------------------------ columns


@pytest.mark.parametrize(
    ("resource", "normal", "wide"),
    [
        (resources.PODS, ["Name", "Ready", "Status", "Restarts", "Age"],
         ["IP", "Node", "Nominated Node", "Readiness Gates"]),
        (resources.REPLICATION_CONTROLLERS, ["Name", "Desired", "Current", "Ready", "Age"],
         ["Containers", "Images", "Selector"]),
        (resources.REPLICA_SETS, ["Name", "Desired", "Current", "Ready", "Age"], ["Containers", "Images", "Selector"]),
        (resources.DEPLOYMENTS, ["Name", "Ready", "Up-to-date", "Available", "Age"],
         ["Containers", "Images", "Selector"]),
        (resources.SERVICES, ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], ["Selector"]),
        (resources.NAMESPACES, ["Name", "Status", "Age"], []),
        (resources.RESOURCE_QUOTAS, ["Name", "Age", "Request", "Limit"], []),
    ],
)
def test_columns_are_the_apiservers(resource: Resource, normal: list[str], wide: list[str]) -> None:
    assert names(resource) == [(n, 0) for n in normal] + [(n, 1) for n in wide]
    definitions = tables.table(resource, [], NOW)["columnDefinitions"]
    assert all(set(c) == {"name", "type", "format", "description", "priority"} for c in definitions)
    assert [c["format"] for c in definitions if c["name"] == "Name"] == ["name"]
    assert all(c["description"] for c in definitions)


def test_event_columns_interleave_wide_ones_as_the_apiserver() -> None:
    assert names(resources.EVENTS) == [
        ("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1), ("Source", 1),
        ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1),
    ]


def test_column_types() -> None:
    types = {c["name"]: c["type"] for c in tables.column_definitions(resources.REPLICATION_CONTROLLERS)}
    assert types == {"Name": "string", "Desired": "integer", "Current": "integer", "Ready": "integer",
                     "Age": "string", "Containers": "string", "Images": "string", "Selector": "string"}
    assert {c["type"] for c in tables.column_definitions(resources.PODS)} == {"string"}  # Restarts: "3 (5m ago)"


# -------------------------------------------------------------------- pods


def pod(phase: str | None = None, statuses: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {**({"phase": phase} if phase else {}), **extra.pop("status", {})}
    if statuses is not None:
        status["containerStatuses"] = statuses
    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "labels": {"app": "web"}, **extra.pop("metadata", {})},
        "spec": {"containers": [{"name": "web", "image": "nginx"}], **extra.pop("spec", {})},
    }
    if status:
        doc["status"] = status
    return serve(kinds.POD, doc, "web-1")


RUNNING = {"name": "web", "image": "nginx", "imageID": "", "ready": True, "restartCount": 0, "state": {"running": {"startedAt": ago(minutes=5)}}}


def crashing(restarts: int) -> dict[str, Any]:
    return {"name": "web", "image": "nginx", "imageID": "", "ready": False, "restartCount": restarts,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(minutes=5)}}}


@pytest.mark.parametrize(
    ("obj", "ready", "status", "restarts"),
    [
        (pod(), "0/1", "Pending", "0"),
        (pod("Pending", [{"name": "web", "ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}}]),
         "0/1", "ContainerCreating", "0"),
        (pod("Running", [RUNNING]), "1/1", "Running", "0"),
        (pod("Running", [crashing(3)]), "0/1", "CrashLoopBackOff", "3 (5m ago)"),
        (pod("Succeeded", [{"name": "web", "ready": False, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]),
         "0/1", "Completed", "0"),
        (pod("Failed", [{"name": "web", "ready": False, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]),
         "0/1", "Error", "0"),
        (pod("Failed", [{"name": "web", "state": {"terminated": {"exitCode": 137}}}]), "0/1", "ExitCode:137", "0"),
        (pod("Failed", [{"name": "web", "state": {"terminated": {"exitCode": 0, "signal": 9}}}]), "0/1", "Signal:9", "0"),
        (pod("Running", [RUNNING], metadata={"deletionTimestamp": ago(seconds=10)}), "1/1", "Terminating", "0"),
        (pod("Succeeded", [], metadata={"deletionTimestamp": ago(seconds=10)}), "0/1", "Succeeded", "0"),
        (pod("Running", [RUNNING], metadata={"deletionTimestamp": ago(seconds=10)}, status={"reason": "NodeLost"}),
         "1/1", "Unknown", "0"),
        (pod("Failed", [], status={"reason": "Evicted"}), "0/1", "Evicted", "0"),
        (pod("Pending", [], status={"conditions": [{"type": "PodScheduled", "status": "False",
                                                      "reason": "SchedulingGated"}]}),
         "0/1", "SchedulingGated", "0"),
    ],
)
def test_pod_ready_status_and_restarts(obj: dict[str, Any], ready: str, status: str, restarts: str) -> None:
    assert cells(resources.PODS, obj)[:5] == ["web-1", ready, status, restarts, "5m30s"]


def two_containers(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    done = {"name": "job", "ready": False, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    return pod("Running", [RUNNING, done], spec={"containers": [{"name": "web"}, {"name": "job"}]},
               status={"conditions": conditions})


def test_a_completed_container_beside_a_running_one_reads_running_or_not_ready() -> None:
    assert cells(resources.PODS, two_containers([{"type": "Ready", "status": "True"}]))[1:3] == ["1/2", "Running"]
    assert cells(resources.PODS, two_containers([]))[1:3] == ["1/2", "NotReady"]


@pytest.mark.parametrize(
    ("init_status", "expected"),
    [
        ({"name": "setup", "state": {"waiting": {"reason": "ErrImagePull"}}}, "Init:ErrImagePull"),
        ({"name": "setup", "state": {"waiting": {"reason": "PodInitializing"}}}, "Init:0/1"),
        ({"name": "setup", "state": {"running": {}}}, "Init:0/1"),
        ({"name": "setup", "state": {"terminated": {"exitCode": 2}}}, "Init:ExitCode:2"),
        ({"name": "setup", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}, "Init:Error"),
        ({"name": "setup", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}, "Pending"),
    ],
)
def test_init_containers(init_status: dict[str, Any], expected: str) -> None:
    obj = pod("Pending", [], spec={"initContainers": [{"name": "setup", "image": "busybox"}]},
              status={"initContainerStatuses": [init_status]})
    assert cells(resources.PODS, obj)[2] == expected


def test_a_started_sidecar_counts_as_a_container() -> None:
    sidecar = {"name": "proxy", "ready": True, "started": True, "restartCount": 1, "state": {"running": {}},
               "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=2)}}}
    obj = pod("Running", [RUNNING], spec={"initContainers": [{"name": "proxy", "restartPolicy": "Always"}]},
              status={"initContainerStatuses": [sidecar]})
    assert cells(resources.PODS, obj)[1:4] == ["2/2", "Running", "1 (2m ago)"]


def test_pod_wide_cells() -> None:
    obj = pod("Running", [RUNNING], spec={"nodeName": "vm-1", "readinessGates": [
                  {"conditionType": "example.com/lb"}, {"conditionType": "example.com/db"}]},
              status={"podIP": "10.0.0.5", "nominatedNodeName": "vm-2",
                      "conditions": [{"type": "example.com/lb", "status": "True"}]})
    assert cells(resources.PODS, obj)[5:] == ["10.0.0.5", "vm-1", "vm-2", "1/2"]
    assert cells(resources.PODS, pod())[5:] == ["<none>", "<none>", "<none>", "<none>"]


def test_finished_pods_carry_the_completed_row_condition() -> None:
    (done,) = tables.table(resources.PODS, [pod("Succeeded", [])], NOW)["rows"]
    assert done["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                   "message": "The pod has completed successfully."}]
    (failed,) = tables.table(resources.PODS, [pod("Failed", [])], NOW)["rows"]
    assert failed["conditions"][0]["reason"] == "Failed"
    (running,) = tables.table(resources.PODS, [pod("Running", [RUNNING])], NOW)["rows"]
    assert "conditions" not in running


def test_a_2014_pod_is_shown_from_its_v1_shape() -> None:
    legacy = {"id": "old", "labels": {"name": "old"}, "kind": "Pod", "apiVersion": "v1beta1",
              "desiredState": {"manifest": {"version": "v1beta1", "id": "old",
                                            "containers": [{"name": "c", "image": "redis"}]}},
              "status": {"phase": "Running", "podIP": "10.0.0.9"}}
    row = cells(resources.PODS, serve(kinds.POD, legacy, "old"))
    assert row[:3] == ["old", "0/1", "Running"] and row[5] == "10.0.0.9"


# --------------------------------------------------------------- workloads

TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1"}, {"name": "log", "image": "fluentd"}]}}


def test_replication_controller_cells() -> None:
    rc = serve(kinds.CONTROLLER, {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
                                  "spec": {"replicas": 3, "selector": {"app": "web", "tier": "f"}, "template": TEMPLATE},
                                  "status": {"replicas": 2, "readyReplicas": 1}}, "web")
    assert cells(resources.REPLICATION_CONTROLLERS, rc) == [
        "web", 3, 2, 1, "5m30s", "web,log", "nginx:1,fluentd", "app=web,tier=f"]


def test_replica_set_cells_format_the_label_selector() -> None:
    rs = serve(kinds.REPLICA_SET, {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1"},
                                   "spec": {"replicas": 2, "template": TEMPLATE, "selector": {
                                       "matchLabels": {"app": "web"},
                                       "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]}},
                                   "status": {"replicas": 2}}, "web-1")
    assert cells(resources.REPLICA_SETS, rs) == [
        "web-1", 2, 2, 0, "5m30s", "web,log", "nginx:1,fluentd", "app=web,tier in (a,b)"]


def test_deployment_cells() -> None:
    deploy = serve(kinds.DEPLOYMENT, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                                      "spec": {"replicas": 3, "template": TEMPLATE,
                                               "selector": {"matchLabels": {"app": "web"}}},
                                      "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}},
                   "web")
    assert cells(resources.DEPLOYMENTS, deploy) == ["web", "2/3", 3, 2, "5m30s", "web,log", "nginx:1,fluentd", "app=web"]


# ----------------------------------------------------------------- services


def service(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                           "spec": {"selector": {"app": "web"}, **spec}}
    if status is not None:
        doc["status"] = status
    return serve(kinds.SERVICE, doc, "web")


def test_a_load_balancer_with_its_ingress() -> None:
    svc = service({"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080},
                                                       {"port": 53, "protocol": "UDP"}]},
                  {"loadBalancer": {"ingress": [{"ip": "34.1.2.3"}]}})
    assert cells(resources.SERVICES, svc) == ["web", "LoadBalancer", "<none>", "34.1.2.3", "80:30080/TCP,53/UDP",
                                              "5m30s", "app=web"]


def test_a_load_balancer_waiting_for_its_address_is_pending() -> None:
    assert cells(resources.SERVICES, service({"type": "LoadBalancer", "ports": [{"port": 80}]}))[3:5] == [
        "<pending>", "80/TCP"]


def test_a_cluster_ip_service_shows_what_it_has() -> None:
    assert cells(resources.SERVICES, service({"ports": []}))[1:5] == ["ClusterIP", "<none>", "<none>", "<none>"]
    with_ip = service({"type": "ClusterIP", "clusterIP": "10.96.0.10", "externalIPs": ["1.2.3.4"]})
    assert cells(resources.SERVICES, with_ip)[1:4] == ["ClusterIP", "10.96.0.10", "1.2.3.4"]


# ------------------------------------------------------------------- events


def event(**fields: Any) -> dict[str, Any]:
    doc = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web-1.17a"},
           "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "prod", "fieldPath": "spec.containers{web}"},
           "reason": "Started", "type": "Normal", "message": " Started container web \n",
           "source": {"component": "firecontrol"}, **fields}
    return serve(kinds.EVENT, doc, "web-1.17a")


def test_event_cells() -> None:
    ev = event(firstTimestamp=ago(hours=3, minutes=20), lastTimestamp=ago(seconds=42), count=4)
    assert cells(resources.EVENTS, ev) == ["42s", "Normal", "Started", "pod/web-1", "spec.containers{web}", "firecontrol",
                                          "Started container web", "3h20m", 4, "web-1.17a"]


def test_event_times_and_counts_fall_back_as_the_apiserver() -> None:
    ev = event(firstTimestamp=ago(minutes=7))  # no lastTimestamp, no count
    assert [cells(resources.EVENTS, ev)[i] for i in (0, 7, 8)] == ["7m", "7m", 1]
    series = event(eventTime=ago(days=3, hours=2), series={"count": 9, "lastObservedTime": ago(minutes=1)},
                   reportingComponent="ctl", reportingInstance="host-1", source={})
    row = cells(resources.EVENTS, series)
    assert [row[i] for i in (0, 5, 7, 8)] == ["60s", "ctl, host-1", "3d2h", 9]
    bare = event(involvedObject={"kind": "Namespace"})
    assert cells(resources.EVENTS, bare)[3] == "namespace"
    assert cells(resources.EVENTS, event())[0] == "<unknown>"


# ------------------------------------------------------- namespaces, quotas


def test_namespace_cells() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "creationTimestamp": ago(days=40)},
          "status": {"phase": "Active"}}
    assert cells(resources.NAMESPACES, ns) == ["prod", "Active", "40d"]
    implicit = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "status": {"phase": "Active"}}
    assert cells(resources.NAMESPACES, implicit) == ["x", "Active", "<unknown>"]


def test_quota_cells() -> None:
    quota = serve(kinds.QUOTA, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
                                "spec": {"hard": {"pods": "10"}},
                                "status": {"hard": {"pods": "10", "requests.cpu": "4", "limits.cpu": "8"},
                                           "used": {"pods": "3", "requests.cpu": "500m"}}}, "q")
    assert cells(resources.RESOURCE_QUOTAS, quota) == [
        "q", "5m30s", "pods: 3/10, requests.cpu: 500m/4", "limits.cpu: 0/8"]
    uncounted = serve(kinds.QUOTA, {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "10"}}}, "q")
    assert cells(resources.RESOURCE_QUOTAS, uncounted)[2:] == ["pods: 0/10", ""]


# ----------------------------------------------------- the Table and its rows


def test_include_object_variants() -> None:
    obj = pod("Running", [RUNNING])
    metadata = tables.table(resources.PODS, [obj], NOW)["rows"][0]["object"]
    assert metadata == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
    assert tables.table(resources.PODS, [obj], NOW, "Object")["rows"][0]["object"] == obj
    assert tables.table(resources.PODS, [obj], NOW, "None")["rows"][0]["object"] is None
    assert tables.table(resources.PODS, [obj], NOW, "")["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    with pytest.raises(ApiError) as caught:
        tables.table(resources.PODS, [obj], NOW, "Everything")
    assert caught.value.code == 400 and "includeObject" in caught.value.message


def test_a_tables_shape_and_a_single_objects_version() -> None:
    obj = pod("Running", [RUNNING])
    out = tables.table(resources.PODS, [obj], NOW)
    assert (out["kind"], out["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert out["metadata"] == {"resourceVersion": obj["metadata"]["resourceVersion"]}
    assert tables.table(resources.PODS, [obj, obj], NOW)["metadata"] == {}


def test_a_list_keeps_its_paging_metadata() -> None:
    items = [pod("Running", [RUNNING]), pod()]
    listed = {"apiVersion": "v1", "kind": "PodList", "items": items,
              "metadata": {"resourceVersion": "1740830400000000", "continue": "abc", "remainingItemCount": 7}}
    out = tables.table_for_list(resources.PODS, listed, NOW, "None")
    assert out["metadata"] == {"resourceVersion": "1740830400000000", "continue": "abc", "remainingItemCount": 7}
    assert [r["cells"][2] for r in out["rows"]] == ["Running", "Pending"]
    last = tables.table_for_list(resources.PODS, {"items": [], "metadata": {"resourceVersion": "5", "continue": ""}}, NOW)
    assert last["metadata"] == {"resourceVersion": "5"} and last["rows"] == []


# ------------------------------------------------ the official client as oracle


SAMPLES = [
    (resources.PODS, "V1Pod", pod("Running", [crashing(2)], metadata={"deletionTimestamp": ago(seconds=3)})),
    (resources.SERVICES, "V1Service", service({"type": "LoadBalancer", "ports": [{"port": 80}]},
                                               {"loadBalancer": {"ingress": [{"ip": "34.1.2.3"}]}})),
    (resources.EVENTS, "CoreV1Event", event(firstTimestamp=ago(minutes=3), count=2)),
]


@pytest.mark.parametrize(("resource", "model", "obj"), SAMPLES)
def test_row_objects_deserialize_into_the_clients_models(resource: Resource, model: str, obj: dict[str, Any]) -> None:
    partial = tables.table(resource, [obj], NOW)["rows"][0]["object"]
    assert instants(client_round_trip(partial["metadata"], "V1ObjectMeta")) == instants(partial["metadata"])
    full = tables.table(resource, [obj], NOW, "Object")["rows"][0]["object"]
    assert instants(client_round_trip(full, model)) == instants(full)


def test_the_tables_metadata_is_a_list_meta() -> None:
    listed = {"items": [pod()], "metadata": {"resourceVersion": "9", "continue": "t", "remainingItemCount": 1}}
    out = tables.table_for_list(resources.PODS, listed, NOW)
    assert client_round_trip(out["metadata"], "V1ListMeta") == out["metadata"]
