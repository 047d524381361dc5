"""Deleting a pod whose VM runs an agent (docs/agent-protocol.md §5): out of its target
pools first, then ``fc-terminate``, and the VM deleted only when the agent reports its
containers terminated or the grace period is over; real Firestore and Compute emulators."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from emulator.compute.state import Key
from functions.cloudprovider import TemporaryError
from functions.controllers.pods import PodSync, sync_pod
from functions.controllers.resync import resync_all
from functions.controllers.services import sync_service
from functions.runtime import Runtime
from functions.store import PODS, SERVICES, doc_path
from tests.helpers import CrashBefore, pod_doc, wait_for
from tests.integration.agent_support import (
    STATUS_URL,
    Agent,
    Clock,
    agent_runtime,
    container,
    heartbeat,
    pod_doc_of,
    pool_members,
    status_of,
    vm_metadata,
    vm_names,
)

SERVICE = {"metadata": {"name": "front"},
           "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}


def pod_path(name: str = "web-1") -> str:
    return doc_path("default", PODS, name)


def serving_pod(rt: Runtime, compute: ComputeEmulator, **spec: Any) -> str:
    """A pod whose agent reported it Ready, in a load balancer's pool; its VM's name."""
    doc = pod_doc("web-1", {"app": "web"})
    doc["spec"].update(spec)
    rt.store.client.document(pod_path()).set(doc)
    for _ in range(2):  # the finalizer, then the VM
        sync_pod(rt.store, rt.provider, rt.settings, "default", "web-1", rt.clock)
    vm: str = pod_doc_of(rt, "web-1").data["spec"]["nodeName"]
    wait_for(lambda: rt.provider.get_instance(vm).status == "RUNNING", timeout=10)
    Agent(rt, "web-1").report(container())
    rt.store.client.document(doc_path("default", SERVICES, "front")).set(SERVICE)
    sync_service(rt.store, rt.provider, rt.settings, "default", "front", rt.clock)
    assert pool_members(compute) == [vm]
    return vm


def delete(rt: Runtime, **meta: Any) -> None:
    """Mark the pod for deletion, as the CLI and the controller do."""
    rt.store.client.document(pod_path()).update({"metadata.deletionTimestamp": rt.clock(), **meta})


def test_leaves_the_pool_then_waits_for_the_agents_report(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt)
    vm = serving_pod(rt, compute)
    delete(rt)
    assert sync_pod(rt.store, rt.provider, rt.settings, "default", "web-1", rt.clock).action == "terminating"
    assert pool_members(compute) == []
    assert (vm_metadata(compute, vm) or {}).get("fc-terminate") == "30"
    assert status_of(rt, "web-1")["terminationStarted"]
    assert vm in vm_names(compute)

    waiting = pod_doc_of(rt, "web-1").update_time
    assert sync_pod(rt.store, rt.provider, rt.settings, "default", "web-1", rt.clock).action == "terminating"
    assert resync_all(rt, full=True)["errors"] == []
    assert pod_doc_of(rt, "web-1").update_time == waiting  # nothing due: nothing written
    assert vm in vm_names(compute)

    Agent(rt, "web-1").report(container(state="terminated", exitCode=143, reason="Error"), terminating=True)
    assert vm in vm_names(compute)  # the report alone deletes nothing: the pass it triggers does
    assert sync_pod(rt.store, rt.provider, rt.settings, "default", "web-1", rt.clock).action == "deleted"
    assert vm not in vm_names(compute)
    assert rt.store.get(pod_path()) is None and heartbeat(rt, "web-1") is None


def test_the_pool_is_left_before_the_agent_is_told(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt)
    vm = serving_pod(rt, compute)
    delete(rt)
    crashing = CrashBefore(rt.provider, "set_instance_metadata")
    with pytest.raises(TemporaryError):
        PodSync(rt.store, crashing, rt.settings, rt.clock).run("default", "web-1")
    assert pool_members(compute) == []  # out of service already
    assert "fc-terminate" not in (vm_metadata(compute, vm) or {})
    assert "terminationStarted" not in status_of(rt, "web-1")


def test_the_vm_goes_when_the_grace_period_is_over(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt)
    clock = rt.clock
    assert isinstance(clock, Clock)
    vm = serving_pod(rt, compute, terminationGracePeriodSeconds=60)
    delete(rt, **{"metadata.deletionGracePeriodSeconds": 5})  # the deleter's grace wins
    sync_pod(rt.store, rt.provider, rt.settings, "default", "web-1", rt.clock)
    assert (vm_metadata(compute, vm) or {}).get("fc-terminate") == "5"
    clock.advance(14)
    summary = resync_all(rt, full=True)
    assert summary["pods"] == 0 and vm in vm_names(compute)  # the agent may still report
    clock.advance(2)  # 5 s grace + 10 s for the last report
    summary = resync_all(rt, full=True)
    assert summary["pods"] == 1 and summary["errors"] == []
    assert vm not in vm_names(compute) and rt.store.get(pod_path()) is None


def test_grace_zero_deletes_at_once(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt)
    vm = serving_pod(rt, compute, terminationGracePeriodSeconds=0)
    told = compute.requests().get("instances.setMetadata", 0)  # the service's port map, if any
    delete(rt)
    assert sync_pod(rt.store, rt.provider, rt.settings, "default", "web-1", rt.clock).action == "deleted"
    assert vm not in vm_names(compute) and rt.store.get(pod_path()) is None
    assert compute.requests().get("instances.setMetadata", 0) == told  # no fc-terminate


def test_a_vm_already_gone_finishes_at_once(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt)
    vm = serving_pod(rt, compute)
    compute.state.remove_now(Key(rt.settings.project, f"zones/{rt.settings.zone}", "instances", vm))
    delete(rt)
    assert sync_pod(rt.store, rt.provider, rt.settings, "default", "web-1", rt.clock).action == "deleted"
    assert rt.store.get(pod_path()) is None and heartbeat(rt, "web-1") is None


def test_through_the_triggers_the_agents_last_report_finishes_the_deletion(
    cluster: Runtime, compute: ComputeEmulator
) -> None:
    cluster.settings = replace(cluster.settings, pod_status_url=STATUS_URL)
    cluster.store.client.document(pod_path()).set(pod_doc("web-1", {"app": "web"}))
    cluster.store.client.document(doc_path("default", SERVICES, "front")).set(SERVICE)
    vm = wait_for(lambda: (pod_doc_of(cluster, "web-1").data.get("spec") or {}).get("nodeName"), timeout=20)
    wait_for(lambda: cluster.provider.get_instance(vm).status == "RUNNING", timeout=10)
    wait_for(lambda: status_of(cluster, "web-1").get("hostIP"), timeout=10)  # paired (resync's job in production)
    agent = Agent(cluster, "web-1")
    agent.report(container())
    wait_for(lambda: pool_members(compute) == [vm], timeout=20)  # Running: the service takes it

    cluster.store.client.document(pod_path()).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    wait_for(lambda: status_of(cluster, "web-1").get("terminationStarted"), timeout=20)
    assert pool_members(compute) == [] and (vm_metadata(compute, vm) or {}).get("fc-terminate") == "30"
    assert vm in vm_names(compute)
    agent.report(container(state="terminated", exitCode=0), terminating=True)
    wait_for(lambda: cluster.store.get(pod_path()) is None, timeout=20)
    assert vm not in vm_names(compute) and heartbeat(cluster, "web-1") is None


def test_through_the_triggers_the_first_report_pairs_the_pod_with_its_vm(cluster: Runtime, compute: ComputeEmulator) -> None:
    """An agent VM's pass ends once the insert is accepted, before the VM is RUNNING: the
    agent's first report (phase Running) has the pod runtime record the VM's fingerprint
    at once, not at the next resync tick; the status it writes asks for nothing more."""
    cluster.settings = replace(cluster.settings, pod_status_url=STATUS_URL)
    cluster.store.client.document(pod_path()).set(pod_doc("web-1", {"app": "web"}))
    vm = wait_for(lambda: (pod_doc_of(cluster, "web-1").data.get("spec") or {}).get("nodeName"), timeout=20)
    wait_for(lambda: cluster.provider.get_instance(vm).status == "RUNNING", timeout=10)
    assert status_of(cluster, "web-1").get("vmFingerprint") is None  # nothing has seen it RUNNING yet
    Agent(cluster, "web-1").report(container())
    wait_for(lambda: status_of(cluster, "web-1").get("vmFingerprint") is not None, timeout=20)
    status = status_of(cluster, "web-1")
    assert status["phase"] == "Running" and status.get("hostIP")
    settled = pod_doc_of(cluster, "web-1").update_time
    time.sleep(1.0)  # the fingerprint's own write came back as an event, and changed nothing
    assert pod_doc_of(cluster, "web-1").update_time == settled
