"""Every write path of the replication pass and of the service pass against 2014-shaped
documents (docs/kube-api.md §12): after each pass the stored document must still convert
(``parse_controller`` / ``parse_service``) to the spec it had, and still be read as 2014.
Against the real Firestore emulator, and the Compute emulator for the services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from emulator.compute import ComputeEmulator
from functions.api.parse import parse_controller, parse_service
from functions.controllers.replica_kinds import Plan
from functions.controllers.replication import plan_failure, sync_controller
from functions.controllers.services import sync_service
from functions.events import DocumentChange, StoredDocument
from functions.handlers import on_service_change
from functions.runtime import Runtime
from functions.store import CONTROLLERS, SERVICES, doc_path
from tests.helpers import fixture, pods
from tests.integration.test_services import lb_names, running_pod

NS = "default"
MAX = 100


def rc_2014(replicas: int = 2) -> dict[str, Any]:
    """A July 2014 replication controller (kubecfg's shape), as a Firestore client writes it."""
    return {
        "id": "frontend-controller", "kind": "ReplicationController", "apiVersion": "v1beta1",
        "desiredState": {
            "replicas": replicas,
            "replicaSelector": {"name": "frontend"},
            "podTemplate": {
                "desiredState": {"manifest": {"version": "v1beta1", "id": "frontend-controller",
                                              "containers": [{"name": "php-redis", "image": "brendanburns/php-redis",
                                                              "ports": [{"containerPort": 80}]}]}},
                "labels": {"name": "frontend"},
            },
        },
        "labels": {"name": "frontend"},
    }


RC_PATH = doc_path(NS, CONTROLLERS, "frontend-controller")


def stored(rt: Runtime, path: str) -> dict[str, Any]:
    return rt.store.client.document(path).get().to_dict() or {}


def controller_view(data: dict[str, Any]) -> tuple[Any, list[str], bool]:
    parsed = parse_controller(data, NS, "frontend-controller", MAX)
    return (parsed.obj.spec if parsed.obj is not None else None), parsed.errors, parsed.legacy


def assert_controller_kept(rt: Runtime, original: dict[str, Any]) -> dict[str, Any]:
    data = stored(rt, RC_PATH)
    assert controller_view(data) == controller_view(original)
    assert controller_view(data)[2] is True  # still read as 2014
    assert "spec" not in data and data["desiredState"] == original["desiredState"]
    return data


def rc_pass(rt: Runtime) -> Any:
    return sync_controller(rt.store, rt.settings, NS, "frontend-controller", rt.clock)


def test_every_replication_write_keeps_a_2014_controller(rt: Runtime) -> None:
    original = rc_2014(2)
    rt.store.client.document(RC_PATH).set(original)
    assert rc_pass(rt).created == 2  # status, uid, generation, resourceVersion, events
    data = assert_controller_kept(rt, original)
    assert data["metadata"]["generation"] == 1 and data["status"]["replicas"] == 2
    assert data["id"] == "frontend-controller" and data["labels"] == {"name": "frontend"}

    for pod in pods(rt.store, NS):  # the pods' agents report them ready: a status-only pass
        rt.store.client.document(pod.path).update({"status": {
            "phase": "Running", "conditions": [{"type": "Ready", "status": "True",
                                                "lastTransitionTime": datetime.now(UTC)}]}})
    rc_pass(rt)
    assert stored(rt, RC_PATH)["status"]["readyReplicas"] == 2
    assert_controller_kept(rt, original)

    # Scaled down (a 2014 client writes desiredState.replicas): pods removed, generation moved.
    rt.store.client.document(RC_PATH).update({"desiredState.replicas": 1})
    original["desiredState"]["replicas"] = 1
    assert rc_pass(rt).deleted == 1
    assert stored(rt, RC_PATH)["metadata"]["generation"] == 2
    assert_controller_kept(rt, original)

    # Over the cap: the invalid path's status and event.
    rt.store.client.document(RC_PATH).update({"desiredState.replicas": MAX + 1})
    original["desiredState"]["replicas"] = MAX + 1
    assert rc_pass(rt).invalid
    assert_controller_kept(rt, original)

    # A commit the database refused: the failure's status write.
    doc = rt.store.get(RC_PATH)
    assert doc is not None
    rt.store.commit(plan_failure(doc, Plan(creating=["x"]), RuntimeError("refused"), datetime.now(UTC)),
                    datetime.now(UTC))
    assert_controller_kept(rt, original)


def test_a_2014_controller_refused_or_marked_keeps_its_shape(rt: Runtime) -> None:
    original = fixture("rc-2014.json")  # hostPort 8080 on containerPort 80: accepted (the agent redirects it)
    path = doc_path(NS, CONTROLLERS, "nginx-controller")
    rt.store.client.document(path).set(original)
    sync_controller(rt.store, rt.settings, NS, "nginx-controller", rt.clock)
    parsed_before = parse_controller(original, NS, "nginx-controller", MAX)
    parsed_after = parse_controller(stored(rt, path), NS, "nginx-controller", MAX)
    assert parsed_before.obj is not None and parsed_after.obj is not None
    assert parsed_after.obj.spec == parsed_before.obj.spec
    assert (parsed_after.errors, parsed_before.errors, parsed_after.legacy) == ([], [], True)

    # Marked for deletion (kube_api, Foreground) while it has pods: the deletion pass's writes.
    rt.store.client.document(RC_PATH).set(rc_2014(2))
    rc_pass(rt)
    for pod in pods(rt.store, NS):
        rt.store.client.document(pod.path).update({"metadata.finalizers": ["firecontrol.io/instance"]})
    rt.store.client.document(RC_PATH).update({"metadata.deletionTimestamp": datetime.now(UTC),
                                              "metadata.finalizers": ["foregroundDeletion"]})
    assert rc_pass(rt).deleted == 2
    assert_controller_kept(rt, rc_2014(2))


# -- services ----------------------------------------------------------------------------------


def svc_2014(**extra: Any) -> dict[str, Any]:
    """A July 2014 service (``frontend-service.json``), load-balanced."""
    return {"id": "frontend", "kind": "Service", "apiVersion": "v1beta1", "port": 80, "containerPort": 80,
            "selector": {"app": "web"}, "labels": {"name": "frontend"}, "createExternalLoadBalancer": True, **extra}


SVC_PATH = doc_path(NS, SERVICES, "frontend")


def service_view(data: dict[str, Any]) -> tuple[Any, list[str], bool]:
    parsed = parse_service(data, NS, "frontend")
    return (parsed.obj.spec if parsed.obj is not None else None), parsed.errors, parsed.legacy


def assert_service_kept(rt: Runtime, original: dict[str, Any]) -> dict[str, Any]:
    data = stored(rt, SVC_PATH)
    assert service_view(data) == service_view(original)
    assert service_view(data)[2] is True and "spec" not in data
    return data


def change_at(rt: Runtime, path: str, write: Callable[[], Any]) -> DocumentChange:
    """Write, and the trigger's event for it (its old and new values)."""
    def read() -> StoredDocument | None:
        snapshot = rt.store.client.document(path).get()
        return StoredDocument(snapshot.to_dict() or {}, snapshot.create_time, snapshot.update_time) \
            if snapshot.exists else None
    before = read()
    write()
    return DocumentChange("updated" if before is not None else "created", path, before, read())


def svc_pass(rt: Runtime) -> Any:
    return sync_service(rt.store, rt.provider, rt.settings, NS, "frontend", rt.clock)


def test_every_service_write_keeps_a_2014_service(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = crt
    original = svc_2014()
    # Created (the finalizer write, then the load balancer's status, and the events)
    on_service_change(change_at(rt, SVC_PATH, lambda: rt.store.client.document(SVC_PATH).set(original)), rt)
    data = assert_service_kept(rt, original)
    assert data["status"]["loadBalancer"]["ingress"] and "firecontrol.io/load-balancer" in data["metadata"]["finalizers"]

    running_pod(rt, compute, "web-aaaaa")  # hosts change: port maps recorded, UpdatedLoadBalancer
    svc_pass(rt)
    assert stored(rt, SVC_PATH)["status"]["portMap"]["members"]
    assert_service_kept(rt, original)

    # Its load balancer no longer wanted: the teardown's status and finalizer writes.
    rt.store.client.document(SVC_PATH).update({"createExternalLoadBalancer": False})
    original["createExternalLoadBalancer"] = False
    assert svc_pass(rt).action == "teardown"
    assert lb_names(compute) == {}
    assert_service_kept(rt, original)

    # An invalid one (a port out of range): the InvalidSpec status.
    rt.store.client.document(SVC_PATH).update({"port": 0})
    original["port"] = 0
    assert svc_pass(rt).action == "invalid"
    assert_service_kept(rt, original)


def test_a_2014_service_switched_by_a_whole_document_write(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = crt
    rt.store.client.document(SVC_PATH).set(svc_2014())
    svc_pass(rt)
    assert lb_names(compute)
    plain = svc_2014(createExternalLoadBalancer=False)
    on_service_change(change_at(rt, SVC_PATH, lambda: rt.store.client.document(SVC_PATH).set(plain)), rt)
    assert lb_names(compute) == {}
    assert_service_kept(rt, plain)
