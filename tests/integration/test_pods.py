"""Pods as Compute Engine VMs, end to end through real Firestore triggers and the Compute emulator."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from emulator.compute import ComputeEmulator
from emulator.router import TriggerRouter
from functions.controllers.pods import FINALIZER
from functions.controllers.resync import resync_all
from functions.runtime import Runtime
from functions.store import CONTROLLERS, SERVICES, doc_path
from functions.vm_spec import instance_name
from tests.helpers import pods, rc_doc, wait_for, write_rc

ZONE = "us-central1-a"


def vms(compute: ComputeEmulator, status: str | None = None) -> list[str]:
    items = compute.state.dump()["resources"]["instances"]
    return sorted(i["name"] for i in items if status is None or i["status"] == status)


def running_pods(rt: Runtime) -> list[str]:
    return sorted(p.name for p in pods(rt.store) if p.phase == "Running" and not p.being_deleted)


def converged(rt: Runtime, compute: ComputeEmulator, n: int) -> bool:
    """n pods Running, each on its own RUNNING VM; no other live pod, no other VM."""
    names = running_pods(rt)
    live = [p for p in pods(rt.store) if p.phase != "Failed"]
    expected = sorted(instance_name(rt.settings.cluster, "default", p) for p in names)
    return len(names) == n == len(live) and vms(compute, "RUNNING") == expected == vms(compute)


def scale(rt: Runtime, replicas: int) -> None:
    rt.store.client.document(doc_path("default", CONTROLLERS, "web")).update({"spec.replicas": replicas})


def pool(compute: ComputeEmulator) -> list[str]:
    pools = compute.state.dump()["resources"]["targetPools"]
    return sorted(link.rsplit("/", 1)[1] for p in pools for link in p.get("instances", []))


def test_controller_of_three_scales_and_deletes(cluster: Runtime, compute: ComputeEmulator) -> None:
    path = write_rc(cluster.store, rc_doc("web", 3))
    wait_for(lambda: converged(cluster, compute, 3), timeout=30)
    for pod in pods(cluster.store):
        assert pod.finalizers == [FINALIZER] and pod.ready and pod.node_name
    scale(cluster, 5)
    wait_for(lambda: converged(cluster, compute, 5), timeout=30)
    scale(cluster, 1)
    wait_for(lambda: converged(cluster, compute, 1), timeout=30)
    cluster.store.client.document(path).delete()
    wait_for(lambda: vms(compute) == [] and pods(cluster.store) == [], timeout=30)


def test_vm_lost_behind_our_back_is_replaced_and_pool_follows(cluster: Runtime, compute: ComputeEmulator) -> None:
    write_rc(cluster.store, rc_doc("web", 3))
    svc = {"metadata": {"name": "front"}, "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}
    cluster.store.client.document(doc_path("default", SERVICES, "front")).set(svc)
    wait_for(lambda: converged(cluster, compute, 3), timeout=30)
    wait_for(lambda: pool(compute) == vms(compute, "RUNNING"), timeout=30)

    gone, stopped = vms(compute)[:2]
    project = cluster.settings.project
    from emulator.compute.state import Key

    compute.state.remove_now(Key(project, f"zones/{ZONE}", "instances", gone))
    compute.state.stop_instance(Key(project, f"zones/{ZONE}", "instances", stopped))
    summary = resync_all(cluster)
    assert summary["errors"] == [] and summary["pods"] >= 2
    wait_for(lambda: converged(cluster, compute, 3) and gone not in vms(compute) and stopped not in vms(compute), timeout=30)
    failed = [p for p in pods(cluster.store) if p.phase == "Failed"]
    assert len(failed) == 2  # kept as a record (the newest few), their VMs released
    assert all(p.finalizers == [] for p in failed)
    wait_for(lambda: pool(compute) == vms(compute, "RUNNING"), timeout=30)

    for replicas in (5, 2):
        scale(cluster, replicas)
        wait_for(lambda replicas=replicas: converged(cluster, compute, replicas), timeout=30)
        wait_for(lambda: pool(compute) == vms(compute, "RUNNING"), timeout=30)


def test_quota_errors_are_bounded_by_slow_start(cluster: Runtime, compute: ComputeEmulator, router: TriggerRouter) -> None:
    compute.inject(method="POST", path="/instances$", status=403, reason="quotaExceeded")
    path = write_rc(cluster.store, rc_doc("web", 10))

    def reported() -> Any:
        status = (cluster.store.client.document(path).get().to_dict() or {}).get("status", {})
        return next((c for c in status.get("conditions", []) if c["reason"] == "FailedCreate"), None)

    condition = wait_for(reported, timeout=30)
    assert "cannot get a VM" in condition["message"] and "Quota" in condition["message"]
    assert router.wait_idle()  # every event the first attempt caused has played out
    assert len(pods(cluster.store)) == 1  # slow start: one pod waits for a VM, not ten
    assert compute.requests().get("instances.insert", 0) == 1

    later = _later(cluster, seconds=15)  # past the first backoff delay
    resync_all(later)
    assert compute.requests().get("instances.insert", 0) == 2 and len(pods(cluster.store)) == 1
    resync_all(cluster)  # not yet time again: no attempt
    assert compute.requests().get("instances.insert", 0) == 2

    compute.faults.clear()
    resync_all(_later(cluster, seconds=60))
    wait_for(lambda: converged(cluster, compute, 10), timeout=60)
    assert reported() is None
    assert compute.requests()["instances.insert"] == 12  # 2 refused, then one per pod


def _later(rt: Runtime, seconds: float) -> Runtime:
    from dataclasses import replace
    from datetime import timedelta

    return replace(rt, clock=lambda: datetime.now(UTC) + timedelta(seconds=seconds))


def test_every_event_twice_and_out_of_order_never_overshoots(
    cluster: Runtime, compute: ComputeEmulator, router: TriggerRouter
) -> None:
    """Eventarc delivers at least once and in no order: the router sends every event twice,
    each copy held a random time, while a controller and its service scale up and down."""
    project = cluster.settings.project
    router.duplicate, router.delay = 1.0, (0.0, 0.15)
    most_pods = most_vms = 0
    try:
        write_rc(cluster.store, rc_doc("web", 5))
        svc = {"metadata": {"name": "front"}, "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}
        cluster.store.client.document(doc_path("default", SERVICES, "front")).set(svc)

        def watch(replicas: int) -> bool:
            nonlocal most_pods, most_vms
            live = [p for p in pods(cluster.store) if p.phase != "Failed" and not p.being_deleted]
            most_pods, most_vms = max(most_pods, len(live)), max(most_vms, len(vms(compute)))
            return converged(cluster, compute, replicas) and pool(compute) == vms(compute, "RUNNING")

        wait_for(lambda: watch(5), timeout=60)
        assert (most_pods, most_vms) == (5, 5)
        scale(cluster, 2)
        wait_for(lambda: watch(2), timeout=60)
        router.wait_idle()
        copies = [n for p, n in list(router.copies) if p == project]
    finally:
        router.duplicate, router.delay = 0.0, (0.0, 0.0)
    assert (most_pods, most_vms) == (5, 5)
    assert len(copies) > 10 and set(copies) == {2}  # every event really came twice


def test_a_relabelled_pod_leaves_its_pool_and_is_replaced_without_resync(cluster: Runtime, compute: ComputeEmulator) -> None:
    write_rc(cluster.store, rc_doc("web", 2))
    svc = {"metadata": {"name": "front"}, "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}
    cluster.store.client.document(doc_path("default", SERVICES, "front")).set(svc)
    wait_for(lambda: converged(cluster, compute, 2) and pool(compute) == vms(compute, "RUNNING"), timeout=30)
    moved = running_pods(cluster)[0]
    cluster.store.client.document(doc_path("default", "pods", moved)).update({"metadata.labels": {"app": "other"}})

    def web_nodes() -> list[str]:
        return sorted(p.node_name or "" for p in pods(cluster.store)
                      if p.labels.get("app") == "web" and p.phase == "Running")

    wait_for(lambda: len(web_nodes()) == 2 and pool(compute) == web_nodes(), timeout=30)
    [released] = [p for p in pods(cluster.store) if p.name == moved]
    assert released.owner_references == [] and released.phase == "Running"  # kept, ownerless
    assert instance_name(cluster.settings.cluster, "default", moved) not in pool(compute)
