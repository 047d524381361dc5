"""Controllers on the readiness agents report, against the real emulators: a template
that would not keep its pods running is refused, and a pod ready for less than
``minReadySeconds`` is counted available by the resync tick that comes after."""

from __future__ import annotations

from emulator.compute import ComputeEmulator
from functions.controllers.pods import sync_pod
from functions.controllers.replication import sync_controller
from functions.controllers.resync import resync_all
from functions.runtime import Runtime
from functions.store import EVENTS
from tests.helpers import pods, rc_data, rc_doc, wait_for, write_rc
from tests.integration.agent_support import Agent, Clock, agent_runtime, container, pod_doc_of


def test_a_template_with_restart_policy_never_is_refused_and_makes_nothing(rt: Runtime) -> None:
    doc = rc_doc("web", 3)
    doc["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    write_rc(rt.store, doc)
    result = sync_controller(rt.store, rt.settings, "default", "web", rt.clock)
    assert result.invalid and result.created == 0 and pods(rt.store) == []
    [failure] = rc_data(rt.store, "web")["status"]["conditions"]
    message = 'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'
    assert (failure["type"], failure["reason"], failure["message"]) == ("ReplicaFailure", "InvalidSpec", message)
    events = [e.data for e in rt.store.in_namespace("default", EVENTS)]
    assert [(e["reason"], e["message"]) for e in events] == [("InvalidSpec", message)]


def test_resync_counts_a_pod_available_once_min_ready_seconds_have_passed(
    crt: Runtime, compute: ComputeEmulator
) -> None:
    rt = agent_runtime(crt)
    clock = rt.clock
    assert isinstance(clock, Clock)
    write_rc(rt.store, rc_doc("web", 1, minReadySeconds=30))
    sync_controller(rt.store, rt.settings, "default", "web", rt.clock)
    [pod] = pods(rt.store)
    for _ in range(2):
        sync_pod(rt.store, rt.provider, rt.settings, "default", pod.name, rt.clock)
    vm = pod_doc_of(rt, pod.name).data["spec"]["nodeName"]
    wait_for(lambda: rt.provider.get_instance(vm).status == "RUNNING", timeout=10)
    sync_pod(rt.store, rt.provider, rt.settings, "default", pod.name, rt.clock)  # paired with its VM
    Agent(rt, pod.name).report(container())
    sync_controller(rt.store, rt.settings, "default", "web", rt.clock)  # as the pod's change asks
    status = rc_data(rt.store, "web")["status"]
    assert (status["readyReplicas"], status["availableReplicas"]) == (1, 0)

    clock.advance(31)  # nothing is written when the pod becomes available: resync passes
    summary = resync_all(rt, full=False)
    assert summary["mode"] == "full" and summary["controllers"] == 1 and summary["errors"] == []
    assert rc_data(rt.store, "web")["status"]["availableReplicas"] == 1
    assert resync_all(rt, full=False)["mode"] == "idle"  # at rest: no more passes
