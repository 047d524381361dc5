"""Pods whose VMs run agents, against the real Firestore and Compute emulators: not Ready
until the agent says so, the agent's status kept, and a silent agent's pod Ready
Unknown, then Failed (NodeLost) and replaced (docs/agent-protocol.md §5)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from emulator.compute import ComputeEmulator
from functions.controllers.pods import FINALIZER, sync_pod
from functions.controllers.replication import sync_controller
from functions.controllers.resync import resync_all
from functions.runtime import Runtime
from functions.store import PODS, doc_path
from tests.helpers import pod_doc, pods, rc_data, rc_doc, wait_for, write_rc
from tests.integration.agent_support import (
    Agent,
    Clock,
    agent_runtime,
    condition,
    container,
    heartbeat,
    pod_doc_of,
    status_of,
    vm_metadata,
    vm_names,
)


def make_pod(rt: Runtime, name: str = "web-1", **spec: object) -> None:
    doc = pod_doc(name, {"app": "web"})
    doc["spec"].update(spec)
    rt.store.client.document(doc_path("default", PODS, name)).set(doc)
    sync_pod(rt.store, rt.provider, rt.settings, "default", name, rt.clock)  # the finalizer
    sync_pod(rt.store, rt.provider, rt.settings, "default", name, rt.clock)  # the VM


def observe(rt: Runtime, name: str = "web-1") -> None:
    """A pod pass once the VM runs (as resync gives one to a pod not yet paired with it)."""
    vm = pod_doc_of(rt, name).data["spec"]["nodeName"]
    wait_for(lambda: rt.provider.get_instance(vm).status == "RUNNING", timeout=10)
    sync_pod(rt.store, rt.provider, rt.settings, "default", name, rt.clock)


def test_agent_pod_is_pending_and_not_ready_until_its_agent_reports(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt)
    make_pod(rt)
    doc = pod_doc_of(rt, "web-1")
    status, vm = doc.data["status"], doc.data["spec"]["nodeName"]
    assert status["phase"] == "Pending" and status["vmAgent"] == "1"
    assert status["vmId"] == rt.provider.get_instance(vm).id != ""
    assert condition(status, "PodScheduled")["status"] == "True"
    for kind in ("Ready", "ContainersReady"):
        assert (condition(status, kind)["status"], condition(status, kind)["reason"]) == ("False", "ContainersNotReady")
        assert condition(status, kind)["message"] == "containers with unready status: [web]"
    beat = heartbeat(rt, "web-1")
    assert beat is not None and beat.data["instanceId"] == status["vmId"] and beat.data["instanceName"] == vm
    assert beat.data["podUid"] and beat.data["sequence"] == -1
    metadata = vm_metadata(compute, vm) or {}
    assert metadata["fc-agent"] == "1" and metadata["fc-status-url"] == rt.settings.pod_status_url

    observe(rt)  # the VM is RUNNING: still not Ready, now paired with it
    status = status_of(rt, "web-1")
    assert status["phase"] == "Pending" and condition(status, "Ready")["status"] == "False"
    assert status["vmFingerprint"] and status["hostIP"]


def test_a_legacy_pod_is_still_ready_while_its_vm_runs(crt: Runtime, compute: ComputeEmulator) -> None:
    make_pod(crt)  # no pod_status_url: no agent reports
    status = status_of(crt, "web-1")
    assert status["phase"] == "Running" and condition(status, "Ready")["status"] == "True"
    assert "vmAgent" not in status and heartbeat(crt, "web-1") is None
    assert "fc-agent" not in (vm_metadata(compute, pod_doc_of(crt, "web-1").data["spec"]["nodeName"]) or {})


def test_the_agents_status_is_never_overwritten_by_the_pod_runtime(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt)
    make_pod(rt)
    agent = Agent(rt, "web-1")
    assert agent.report(container(restartCount=2, ready=True))
    reported = status_of(rt, "web-1")
    assert reported["phase"] == "Running" and condition(reported, "Ready")["status"] == "True"

    observe(rt)
    status = status_of(rt, "web-1")
    assert status["phase"] == "Running"
    for kind in ("Ready", "ContainersReady", "Initialized"):
        assert condition(status, kind) == condition(reported, kind)
    assert status["containerStatuses"] == reported["containerStatuses"]
    assert status["containerStatuses"][0]["restartCount"] == 2
    assert status["vmFingerprint"] and status["podIP"]  # what the runtime knows, added

    # A crash reported: not Ready; the next pass keeps that too.
    assert agent.report(container(state="waiting", reason="CrashLoopBackOff", restartCount=3, ready=False))
    before = pod_doc_of(rt, "web-1")
    sync_pod(rt.store, rt.provider, rt.settings, "default", "web-1", rt.clock)
    after = pod_doc_of(rt, "web-1")
    assert after.update_time == before.update_time  # nothing to add: nothing written
    assert condition(after.data["status"], "Ready")["status"] == "False"
    assert after.data["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"


def test_a_silent_agent_makes_its_pod_unknown_then_failed_and_replaced(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt, heartbeat_timeout=180.0, eviction_timeout=300.0)
    clock = rt.clock
    assert isinstance(clock, Clock)
    write_rc(rt.store, rc_doc("web", 1))
    sync_controller(rt.store, rt.settings, "default", "web", rt.clock)
    [pod] = pods(rt.store)
    sync_pod(rt.store, rt.provider, rt.settings, "default", pod.name, rt.clock)
    sync_pod(rt.store, rt.provider, rt.settings, "default", pod.name, rt.clock)
    observe(rt, pod.name)
    Agent(rt, pod.name).report(container())
    sync_controller(rt.store, rt.settings, "default", "web", rt.clock)
    assert rc_data(rt.store, "web")["status"]["readyReplicas"] == 1

    clock.advance(120)
    summary = resync_all(rt, full=False)
    assert summary["podsUnknown"] == 0 and summary["firestore"]["writes"] == 0
    assert condition(status_of(rt, pod.name), "Ready")["status"] == "True"

    clock.advance(61)  # 181 s silent
    summary = resync_all(rt, full=False)
    assert summary["podsUnknown"] == 1 and summary["errors"] == []
    status = status_of(rt, pod.name)
    for kind in ("Ready", "ContainersReady"):
        assert (condition(status, kind)["status"], condition(status, kind)["reason"]) == ("Unknown", "NodeStatusUnknown")
    assert "has not reported for over 180s" in condition(status, "Ready")["message"]
    assert status["phase"] == "Running"
    sync_controller(rt.store, rt.settings, "default", "web", rt.clock)
    assert rc_data(rt.store, "web")["status"]["readyReplicas"] == 0
    written = pod_doc_of(rt, pod.name).update_time
    assert resync_all(rt, full=False)["podsUnknown"] == 0  # said once
    assert pod_doc_of(rt, pod.name).update_time == written

    vm = pod_doc_of(rt, pod.name).data["spec"]["nodeName"]
    clock.advance(300)  # 481 s silent: past the eviction timeout
    summary = resync_all(rt, full=False)
    assert summary["podsEvicted"] == 1 and summary["errors"] == []
    lost = pod_doc_of(rt, pod.name).data
    assert (lost["status"]["phase"], lost["status"]["reason"]) == ("Failed", "NodeLost")
    assert FINALIZER not in lost["metadata"].get("finalizers", [])
    assert vm not in vm_names(compute) and heartbeat(rt, pod.name) is None

    sync_controller(rt.store, rt.settings, "default", "web", rt.clock)
    fresh = [p for p in pods(rt.store) if p.name != pod.name]
    assert len(fresh) == 1 and fresh[0].phase == "Pending"
    assert resync_all(rt, full=False)["podsEvicted"] == 0


def test_a_report_after_a_silence_brings_the_pod_back(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt)
    clock = rt.clock
    assert isinstance(clock, Clock)
    make_pod(rt)
    observe(rt)
    agent = Agent(rt, "web-1")
    agent.report(container())
    clock.advance(200)
    assert resync_all(rt, full=False)["podsUnknown"] == 1
    assert condition(status_of(rt, "web-1"), "Ready")["status"] == "Unknown"
    agent.report(container())
    assert condition(status_of(rt, "web-1"), "Ready")["status"] == "True"
    assert resync_all(rt, full=False)["podsUnknown"] == 0


def test_an_agent_that_never_starts_is_noticed(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt, heartbeat_timeout=60.0, eviction_timeout=0.0)
    clock = rt.clock
    assert isinstance(clock, Clock)
    make_pod(rt)
    clock.advance(61)
    summary = resync_all(rt, full=False)
    assert summary["podsEvicted"] == 1
    assert status_of(rt, "web-1")["reason"] == "NodeLost"


def test_heartbeats_of_pods_gone_or_finished_are_forgotten(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt)
    clock = rt.clock
    assert isinstance(clock, Clock)
    make_pod(rt, "web-1")
    make_pod(rt, "web-2")
    rt.store.client.document(doc_path("default", PODS, "web-1")).delete()  # behind our back
    rt.store.client.document(doc_path("default", PODS, "web-2")).update({"status.phase": "Succeeded"})
    clock.advance(200)
    summary = resync_all(rt, full=False)
    assert summary["heartbeatsDeleted"] == 2 and summary["podsUnknown"] == 0
    assert heartbeat(rt, "web-1") is None and heartbeat(rt, "web-2") is None


def test_an_agent_back_between_the_query_and_the_write_is_not_marked(crt: Runtime, compute: ComputeEmulator) -> None:
    """Resync reads a stale heartbeat; the agent reports (the same content: only the
    heartbeat is written); resync's Unknown, guarded by the heartbeat too, is not written,
    and the pod stays Ready. Guarded by the pod alone it would be, and every report after
    (same content, fresh heartbeat) would leave it Unknown."""
    from functions.controllers.node_lifecycle import check_heartbeat, stale_heartbeats

    rt = agent_runtime(crt)
    clock = rt.clock
    assert isinstance(clock, Clock)
    make_pod(rt)
    observe(rt)
    agent = Agent(rt, "web-1")
    agent.report(container())
    clock.advance(200)
    [stale] = stale_heartbeats(rt.store, clock() - timedelta(seconds=rt.settings.heartbeat_timeout))
    pod_before = pod_doc_of(rt, "web-1").update_time
    agent.report(container())  # back: same content, no pod write
    assert pod_doc_of(rt, "web-1").update_time == pod_before
    checked = check_heartbeat(rt.store, stale, rt.settings, clock())
    assert checked.verdict == "unknown" and not checked.written
    assert condition(status_of(rt, "web-1"), "Ready")["status"] == "True"


def test_marked_unknown_the_agents_next_report_writes_ready_back(crt: Runtime, compute: ComputeEmulator) -> None:
    """Marking a pod Unknown clears the heartbeat's ``applied``: the agent's next report,
    though its content did not change and its heartbeat is fresh again, writes Ready."""
    rt = agent_runtime(crt)
    clock = rt.clock
    assert isinstance(clock, Clock)
    make_pod(rt)
    observe(rt)
    agent = Agent(rt, "web-1")
    agent.report(container())
    clock.advance(200)
    assert resync_all(rt, full=False)["podsUnknown"] == 1
    assert (heartbeat(rt, "web-1") or pytest.fail("no heartbeat")).data.get("applied") is None
    agent.report(container())
    assert condition(status_of(rt, "web-1"), "Ready")["status"] == "True"


def test_when_most_agents_are_silent_none_is_evicted(crt: Runtime, compute: ComputeEmulator) -> None:
    """pod_status down (or its IAM, or the network): every heartbeat goes stale at once.
    As Kubernetes stops evicting in a fully disrupted zone, the pods are Unknown, not lost."""
    rt = agent_runtime(crt, heartbeat_timeout=60.0, eviction_timeout=60.0)
    clock = rt.clock
    assert isinstance(clock, Clock)
    names = [f"web-{i}" for i in range(1, 5)]
    for name in names:
        make_pod(rt, name)
        Agent(rt, name).report(container())
    clock.advance(500)  # far past both timeouts
    summary = resync_all(rt, full=False)
    assert summary["podsEvicted"] == 0 and summary["podsUnknown"] == 4
    assert summary["nodesDisrupted"] == {"silent": 4, "of": 4}
    assert {status_of(rt, n)["phase"] for n in names} == {"Running"}
    Agent(rt, "web-1").report(container())  # one comes back; three of four still silent
    clock.advance(1)
    assert resync_all(rt, full=False)["podsEvicted"] == 0


def test_one_silent_agent_among_many_is_evicted(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt, heartbeat_timeout=60.0, eviction_timeout=60.0)
    clock = rt.clock
    assert isinstance(clock, Clock)
    names = [f"web-{i}" for i in range(1, 8)]
    for name in names:
        make_pod(rt, name)
        Agent(rt, name).report(container())
    clock.advance(130)
    for name in names[:4]:  # four report, three are silent: 3/7 is not most
        Agent(rt, name).report(container())
    summary = resync_all(rt, full=False)
    assert summary["podsEvicted"] == 3 and "nodesDisrupted" not in summary


def test_without_a_status_url_silence_means_nothing(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt)
    clock = rt.clock
    assert isinstance(clock, Clock)
    make_pod(rt)
    Agent(rt, "web-1").report(container())
    clock.advance(1000)
    quiet = replace(rt, settings=replace(rt.settings, pod_status_url=None))
    summary = resync_all(quiet, full=False)
    assert summary["podsEvicted"] == 0 and summary["podsUnknown"] == 0
    assert status_of(rt, "web-1")["phase"] == "Running"
