"""The idle resync tick: it skips reading pods only when nothing can need a repair."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.cloud.firestore import DELETE_FIELD

from emulator.compute import ComputeEmulator
from emulator.compute.state import Key
from functions.controllers.pods import sync_pod
from functions.controllers.replication import sync_controller
from functions.controllers.resync import resync_all
from functions.runtime import Runtime
from functions.store import PODS, SERVICES, doc_path
from tests.helpers import pod_doc, pods, rc_doc, write_rc

ZONE = "us-central1-a"


def converge(rt: Runtime, replicas: int = 3) -> None:
    """A controller of ``replicas`` pods, each Running on its VM, its status caught up:
    every pass run by hand, so no trigger can repair what a test breaks."""
    write_rc(rt.store, rc_doc("web", replicas))
    for _ in range(replicas + 2):
        sync_controller(rt.store, rt.settings, "default", "web", rt.clock)
        for pod in pods(rt.store):
            sync_pod(rt.store, rt.provider, rt.settings, "default", pod.name, rt.clock)
    sync_controller(rt.store, rt.settings, "default", "web", rt.clock)
    assert sorted(p.phase for p in pods(rt.store)) == ["Running"] * replicas


def tick(rt: Runtime) -> dict[str, Any]:
    summary = resync_all(rt, full=False)
    assert summary["errors"] == [], summary["errors"]
    return summary


def test_an_idle_cluster_costs_no_pod_reads(crt: Runtime, compute: ComputeEmulator) -> None:
    converge(crt, 6)
    svc = {"metadata": {"name": "front"}, "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}
    crt.store.client.document(doc_path("default", SERVICES, "front")).set(svc)
    idle = tick(crt)
    assert idle["mode"] == "idle" and idle["controllers"] == 0 and idle["pods"] == 0
    assert idle["services"] == 1  # services are re-synced on every tick
    again = tick(crt)  # the service settled: nothing written
    assert again["mode"] == "idle" and again["firestore"]["writes"] == 0
    full = resync_all(crt, full=True)
    assert full["mode"] == "full" and full["controllers"] == 1 and full["firestore"]["writes"] == 0
    # idle: controllers 1 + pod count 1 + fingerprint sum 1 + marked count 1; full:
    # controllers 1 + pods 6. The service's pass (its own reads) is the same in both.
    assert full["firestore"]["reads"] - again["firestore"]["reads"] == (1 + 6) - (1 + 3)


def test_a_vm_lost_behind_our_back_makes_the_tick_sweep(crt: Runtime, compute: ComputeEmulator) -> None:
    converge(crt)
    victim = sorted(p.node_name or "" for p in pods(crt.store))[0]
    compute.state.remove_now(Key(crt.settings.project, f"zones/{ZONE}", "instances", victim))
    summary = tick(crt)
    assert summary["mode"] == "full" and "2 VMs run" in summary["fullBecause"]
    assert [p.phase for p in pods(crt.store) if p.node_name == victim] == ["Failed"]


def test_a_stopped_vm_makes_the_tick_sweep(crt: Runtime, compute: ComputeEmulator) -> None:
    converge(crt)
    victim = sorted(p.node_name or "" for p in pods(crt.store))[0]
    compute.state.stop_instance(Key(crt.settings.project, f"zones/{ZONE}", "instances", victim))
    summary = tick(crt)
    assert summary["mode"] == "full" and "not RUNNING" in summary["fullBecause"]


def test_a_pod_whose_event_was_lost_makes_the_tick_sweep(crt: Runtime, compute: ComputeEmulator) -> None:
    """A bare pod written while no trigger ran: only the count of all pods can tell."""
    converge(crt)
    crt.store.client.document(doc_path("default", PODS, "solo")).set(pod_doc("solo", {"app": "solo"}))
    summary = tick(crt)
    assert summary["mode"] == "full" and "4 pods, and the controllers hold 3" in summary["fullBecause"]
    assert summary["pods"] == 1  # the sweep gave it its pass: a VM
    [solo] = [p for p in pods(crt.store) if p.name == "solo"]
    assert solo.node_name is not None


def test_a_pod_marked_for_deletion_unseen_makes_the_tick_sweep(crt: Runtime, compute: ComputeEmulator) -> None:
    """As `delete pod` marks it (its event lost): marked, and out of the fingerprint."""
    converge(crt)
    leaving = pods(crt.store)[0]
    crt.store.client.document(leaving.path).update(
        {"metadata.deletionTimestamp": datetime.now(UTC), "status.vmFingerprint": 0})
    summary = tick(crt)
    assert summary["mode"] == "full" and summary["fullBecause"] == "1 pods marked for deletion"
    assert leaving.name not in [p.name for p in pods(crt.store)]


def test_a_scale_whose_event_was_lost_makes_the_tick_sweep(crt: Runtime, compute: ComputeEmulator) -> None:
    converge(crt)
    crt.store.client.document(doc_path("default", "replicationControllers", "web")).update({"spec.replicas": 4})
    summary = tick(crt)
    assert summary["mode"] == "full" and summary["fullBecause"] == "ReplicationController default/web is not at rest"
    assert summary["created"] == 1


def test_a_pod_marked_by_any_client_unseen_makes_the_tick_sweep(crt: Runtime, compute: ComputeEmulator) -> None:
    """A plain Firestore write of deletionTimestamp (no fingerprint change), its event lost."""
    converge(crt)
    leaving = pods(crt.store)[0]
    crt.store.client.document(leaving.path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    summary = tick(crt)
    assert summary["mode"] == "full" and summary["fullBecause"] == "1 pods marked for deletion"
    assert leaving.name not in [p.name for p in pods(crt.store)]


def test_pods_from_before_the_fingerprint_get_it_from_one_full_sweep(crt: Runtime, compute: ComputeEmulator) -> None:
    converge(crt)
    for pod in pods(crt.store):
        crt.store.client.document(pod.path).update({"status.vmFingerprint": DELETE_FIELD, "status.vmZone": DELETE_FIELD})
    first = tick(crt)
    assert first["mode"] == "full" and "do not pair up" in first["fullBecause"] and first["pods"] == 3
    assert tick(crt)["mode"] == "idle"
