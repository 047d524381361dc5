"""The schema oracle: objects as the functions write them, served (``functions/served.py``),
round-trip through the official ``kubernetes`` Python client's models unchanged, and the
stored documents hold no field Kubernetes does not know but the ones ``served.py`` lists
as firecontrol's bookkeeping (so no Kubernetes field is misspelled in storage).

The documents are made by the real passes on the emulators (the ``cluster`` fixture
delivers the triggers), never written by hand: a controller and its pods, a Deployment
with its ReplicaSet, a LoadBalancer Service with its status, their events, a quota, and
a pod whose agent reported it Running (conditions and containerStatuses).
"""

from __future__ import annotations

from typing import Any

import kubernetes.client
import pytest

from emulator.compute import ComputeEmulator
from functions.api.kinds import (
    CONTROLLER,
    DEPLOYMENT,
    EVENT,
    POD,
    QUOTA,
    REPLICA_SET,
    SERVICE,
    Kind,
)
from functions.controllers.pods import sync_pod
from functions.runtime import Runtime
from functions.served import BOOKKEEPING, STATUS_ANNOTATION, served_object
from functions.store import Doc
from tests.helpers import client_round_trip, instants, rc_doc, wait_for, write_rc
from tests.integration.agent_support import Agent, agent_runtime, container, pod_doc_of

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MODELS = {
    "Pod": "V1Pod", "ReplicationController": "V1ReplicationController", "ReplicaSet": "V1ReplicaSet",
    "Deployment": "V1Deployment", "Service": "V1Service", "Event": "CoreV1Event",
    "ResourceQuota": "V1ResourceQuota",
}
# Stored, never served: Firestore's TTL field on events.
STORAGE_ONLY = {"Event": {"expireAt"}}
PRIMITIVES = {"str", "int", "float", "bool", "datetime", "date", "object"}


def round_trip(obj: dict[str, Any], kind: str) -> Any:
    return client_round_trip(obj, MODELS[kind])


def unknown_paths(value: Any, type_name: str, path: str = "") -> list[str]:
    """Paths in ``value`` that the client's model ``type_name`` has no field for."""
    if type_name in PRIMITIVES or value is None:
        return []
    if type_name.startswith(("list[", "List[")):
        inner = type_name[5:-1]
        return [p for item in (value if isinstance(value, list) else []) for p in unknown_paths(item, inner, path)]
    if type_name.startswith(("dict(", "Dict[")):
        inner = type_name[5:-1].split(", ", 1)[1]
        return [p for key, item in (value if isinstance(value, dict) else {}).items()
                for p in unknown_paths(item, inner, f"{path}.{key}")]
    model = getattr(kubernetes.client, type_name)
    names = {wire: attr for attr, wire in model.attribute_map.items()}
    found: list[str] = []
    for key, item in (value if isinstance(value, dict) else {}).items():
        child = f"{path}.{key}" if path else key
        if key not in names:
            found.append(child)
        else:
            found += unknown_paths(item, model.openapi_types[names[key]], child)
    return found


def check(kind: Kind, doc: Doc) -> dict[str, Any]:
    """The served object round-trips; the stored one differs only by the bookkeeping list."""
    served = served_object(kind, doc.data, doc.path, doc.create_time, doc.update_time)
    assert instants(round_trip(served, kind.kind)) == instants(served), f"{kind.kind} {doc.path} lost or renamed fields"
    own = {f"status.{f}" for f in BOOKKEEPING.get(kind.kind, ())} | STORAGE_ONLY.get(kind.kind, set())
    stray = [p for p in unknown_paths(doc.data, MODELS[kind.kind]) if p not in own]
    assert stray == [], f"{kind.kind} {doc.path} stores fields Kubernetes does not have: {stray}"
    return served


def docs(rt: Runtime, kind: Kind, namespace: str = "default") -> list[Doc]:
    snapshots = rt.store.client.collection(f"namespaces/{namespace}/{kind.collection}").stream()
    return [Doc(s.reference.path, s.to_dict() or {}, s.update_time, s.create_time) for s in snapshots]


def status(rt: Runtime, kind: Kind, name: str) -> dict[str, Any]:
    found = [d for d in docs(rt, kind) if d.name == name]
    return found[0].data.get("status") or {} if found else {}


DEPLOYMENT_DOC = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}},
             "template": {"metadata": {"labels": {"app": "api"}},
                          "spec": {"containers": [{"name": "api", "image": "nginx:1.27",
                                                   "ports": [{"containerPort": 80}]}]}}},
}
SERVICE_DOC = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "front"},
    "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]},
}
QUOTA_DOC = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute"},
             "spec": {"hard": {"pods": "20"}}}


def test_every_kind_the_passes_write_round_trips(cluster: Runtime, compute: ComputeEmulator) -> None:
    client = cluster.store.client
    client.document("namespaces/default/resourceQuotas/compute").set(QUOTA_DOC)
    write_rc(cluster.store, rc_doc("web", 2))
    client.document("namespaces/default/services/front").set(SERVICE_DOC)
    client.document("namespaces/default/deployments/api").set(DEPLOYMENT_DOC)
    wait_for(lambda: status(cluster, CONTROLLER, "web").get("readyReplicas") == 2, timeout=40)
    wait_for(lambda: status(cluster, SERVICE, "front").get("loadBalancer", {}).get("ingress"), timeout=40)
    wait_for(lambda: status(cluster, DEPLOYMENT, "api").get("availableReplicas") == 1, timeout=40)

    seen: dict[str, int] = {}
    for kind in (CONTROLLER, REPLICA_SET, DEPLOYMENT, POD, SERVICE, QUOTA, EVENT):
        for doc in docs(cluster, kind):
            served = check(kind, doc)
            seen[kind.kind] = seen.get(kind.kind, 0) + 1
            if kind is POD:
                assert served["status"]["podIP"] and served["status"]["podIPs"] == [{"ip": served["status"]["podIP"]}]
                assert STATUS_ANNOTATION in served["metadata"]["annotations"]
    assert seen == {"ReplicationController": 1, "ReplicaSet": 1, "Deployment": 1, "Pod": 3, "Service": 1,
                    "ResourceQuota": 1, "Event": seen.get("Event", 0)} and seen["Event"] > 0


def test_a_pod_its_agent_reported_running_round_trips(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}
    rt.store.client.document("namespaces/default/pods/web-1").set(pod)
    for _ in range(2):  # the finalizer, then the VM
        sync_pod(rt.store, rt.provider, rt.settings, "default", "web-1", rt.clock)
    vm = pod_doc_of(rt, "web-1").data["spec"]["nodeName"]
    wait_for(lambda: rt.provider.get_instance(vm).status == "RUNNING", timeout=10)
    sync_pod(rt.store, rt.provider, rt.settings, "default", "web-1", rt.clock)
    restarted = {"state": "terminated", "exitCode": 1, "reason": "Error", "startedAt": 1_795_000_000,
                 "finishedAt": 1_795_000_050}
    assert Agent(rt, "web-1").report(container(restartCount=1, lastState=restarted, imageID="docker://sha256:ab",
                                               containerID="docker://01ef"))
    doc = pod_doc_of(rt, "web-1")
    served = check(POD, doc)
    status_ = served["status"]
    assert status_["phase"] == "Running" and status_["containerStatuses"][0]["ready"] is True
    assert status_["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1
    assert {c["type"] for c in status_["conditions"]} >= {"PodScheduled", "Ready", "ContainersReady", "Initialized"}
