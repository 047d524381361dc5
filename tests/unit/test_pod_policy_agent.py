"""Pure decisions for pods whose VMs run agents: what the pod runtime keeps of the agent's
status, when a deletion may delete the VM, what a stale heartbeat means, and what the
controller makes of agent-reported readiness and restarts (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions.api.meta import Condition, replace_condition
from functions.api.parse import parse_controller
from functions.api.pod import ContainerState, ContainerStateRunning, ContainerStatus, PodStatus
from functions.cloudprovider import InstanceInfo
from functions.config import Settings
from functions.controllers.node_lifecycle import node_verdict
from functions.controllers.pods import FINALIZER, pod_status
from functions.controllers.replica_kinds import controller_uid, owner_ref
from functions.controllers.replication import plan_sync
from functions.controllers.termination import grace_seconds, termination_step
from functions.handlers import vm_to_release
from functions.pod_policy import PodInfo, rank_for_deletion
from functions.store import Doc
from tests.helpers import rc_doc

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SETTINGS = Settings(project="unit", slow_start=False, heartbeat_timeout=180.0, eviction_timeout=300.0)
VM = InstanceInfo(name="fc-web-1", zone="us-central1-a", status="RUNNING", internal_ip="10.0.0.7", id="42")


def container_status(state: str = "running", restarts: int = 0, ready: bool = True) -> dict[str, Any]:
    """One entry of ``status.containerStatuses`` as ``pod_status`` writes it."""
    states = {"running": {"running": {"startedAt": NOW}},
              "waiting": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
              "terminated": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    return {"name": "web", "ready": ready, "restartCount": restarts, "state": states[state], "started": ready,
            "image": "nginx:1.27", "imageID": "", "containerID": "docker://ab"}


def pod_data(*, agent: bool = True, deleting: bool = False, phase: str = "Running", **status: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web-1", "uid": "u1", "finalizers": [FINALIZER]}
    if deleting:
        meta["deletionTimestamp"] = NOW - timedelta(seconds=1)
    return {"metadata": meta, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            "status": {"phase": phase, **({"vmAgent": "1"} if agent else {}), **status}}


def doc(data: dict[str, Any], path: str = "namespaces/default/pods/web-1") -> Doc:
    return Doc(path, data, NOW, NOW - timedelta(hours=1))


# -- the pod runtime keeps what the agent reported ---------------------------------


def test_an_agent_pod_before_its_first_report_is_pending_and_not_ready() -> None:
    status = pod_status(PodStatus(vm_agent="1"), VM, NOW, ["web", "side"])
    assert status.phase == "Pending" and not status.ready
    ready = status.ready_condition()
    assert ready is not None and (ready.reason, ready.message) == ("ContainersNotReady",
                                                                   "containers with unready status: [web side]")
    assert status.host_ip == "10.0.0.7" and status.vm_fingerprint is not None


def test_the_agents_phase_conditions_and_container_statuses_are_kept() -> None:
    ready = Condition(type="Ready", status="True", last_transition_time=NOW - timedelta(minutes=5))
    running = ContainerStatus(name="web", ready=True, restart_count=4,
                              state=ContainerState(running=ContainerStateRunning(started_at=NOW)))
    old = PodStatus(phase="Running", vm_agent="1", conditions=[ready], container_statuses=[running])
    status = pod_status(old, VM, NOW + timedelta(minutes=1), ["web"])
    assert status.phase == "Running" and status.ready_condition() == ready
    assert status.container_statuses == [running] and status.restarts == 4
    unknown = old.model_copy(update={"conditions": [ready.model_copy(update={"status": "Unknown"})]})
    assert pod_status(unknown, VM, NOW, ["web"]).ready_condition() == unknown.conditions[0]


def test_a_gone_vm_still_fails_an_agent_pod_and_a_legacy_pod_is_ready_while_running() -> None:
    gone = pod_status(PodStatus(phase="Running", vm_agent="1"), None, NOW)
    assert (gone.phase, gone.reason) == ("Failed", "InstanceGone")
    legacy = pod_status(PodStatus(), VM, NOW)
    assert legacy.phase == "Running" and legacy.ready


def test_replace_condition_keeps_the_order_the_other_writer_made() -> None:
    conditions = [Condition(type=t, status="True") for t in ("PodScheduled", "Initialized", "Ready")]
    new = replace_condition(conditions, "PodScheduled", Condition(type="PodScheduled", status="True", reason="x"), NOW)
    assert [c.type for c in new] == ["PodScheduled", "Initialized", "Ready"] and new[0].reason == "x"


# -- graceful termination --------------------------------------------------------------


def test_grace_period_the_deleters_then_the_specs_then_thirty() -> None:
    data = pod_data()
    assert grace_seconds(data) == 30
    data["spec"]["terminationGracePeriodSeconds"] = 60
    assert grace_seconds(data) == 60
    data["metadata"]["deletionGracePeriodSeconds"] = 5
    assert grace_seconds(data) == 5
    for bad in ("5", -1, True, None):  # written by any client: ignored
        data["metadata"]["deletionGracePeriodSeconds"] = bad
        assert grace_seconds(data) == 60
    data["metadata"]["deletionGracePeriodSeconds"] = 10**9
    assert grace_seconds(data) == 3600


def test_termination_steps() -> None:
    assert termination_step(pod_data(agent=False, deleting=True), NOW) == "finish"
    assert termination_step(pod_data(deleting=True), NOW) == "start"
    started = pod_data(deleting=True, terminationStarted=NOW - timedelta(seconds=20),
                       containerStatuses=[container_status()])
    assert termination_step(started, NOW) == "wait"
    assert termination_step(started, NOW + timedelta(seconds=20)) == "finish"  # 30 s grace + 10 s
    done = pod_data(deleting=True, terminationStarted=NOW, containerStatuses=[container_status("terminated")])
    assert termination_step(done, NOW) == "finish"
    quick = pod_data(deleting=True)
    quick["spec"]["terminationGracePeriodSeconds"] = 0
    assert termination_step(quick, NOW) == "finish"
    assert termination_step(pod_data(deleting=True, phase="Succeeded"), NOW) == "finish"


def test_a_status_change_runs_the_pod_pass_only_when_a_vm_is_to_be_released() -> None:
    assert not vm_to_release(pod_data())  # a report of a running pod
    assert vm_to_release(pod_data(phase="Succeeded"))  # the agent saw every container exit
    waiting = pod_data(deleting=True, terminationStarted=NOW, containerStatuses=[container_status()])
    assert not vm_to_release(waiting)  # our own terminationStarted write comes back: nothing due
    assert vm_to_release(pod_data(deleting=True, terminationStarted=NOW,
                                  containerStatuses=[container_status("terminated")]))
    released = pod_data(phase="Failed")
    released["metadata"]["finalizers"] = []
    assert not vm_to_release(released)  # the VM is gone already: no loop


# -- node lifecycle ------------------------------------------------------------------------


def beat(silent: float, uid: str = "u1") -> Doc:
    return doc({"renewTime": NOW - timedelta(seconds=silent), "podUid": uid}, "namespaces/default/heartbeats/web-1")


def test_node_verdicts() -> None:
    pod = doc(pod_data())
    assert node_verdict(pod, beat(100), NOW, SETTINGS) == "fresh"
    assert node_verdict(pod, beat(181), NOW, SETTINGS) == "unknown"
    assert node_verdict(pod, beat(481), NOW, SETTINGS) == "lost"
    said = pod_data(conditions=[{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}])
    assert node_verdict(doc(said), beat(200), NOW, SETTINGS) == "nothing"
    assert node_verdict(doc(pod_data(deleting=True)), beat(481), NOW, SETTINGS) == "nothing"
    assert node_verdict(None, beat(200), NOW, SETTINGS) == "forget"
    assert node_verdict(pod, beat(200, uid="earlier"), NOW, SETTINGS) == "forget"
    assert node_verdict(doc(pod_data(phase="Failed")), beat(200), NOW, SETTINGS) == "forget"
    assert node_verdict(doc(pod_data(agent=False)), beat(200), NOW, SETTINGS) == "forget"


# -- the controller on agent-reported readiness and restarts ----------------------------------


def info(name: str, restarts: int, **status: Any) -> PodInfo:
    data = pod_data(containerStatuses=[container_status(restarts=restarts)],
                    conditions=[{"type": "Ready", "status": "True", "lastTransitionTime": NOW - timedelta(hours=1)}],
                    **status)
    data["metadata"]["name"] = name
    data["spec"]["nodeName"] = f"fc-{name}"
    return PodInfo.from_doc(doc(data, f"namespaces/default/pods/{name}"))


def test_deletion_ranking_reads_the_agents_restart_counts() -> None:
    steady, crashy, crashier = info("web-a", 0), info("web-b", 3), info("web-c", 7)
    assert [p.restarts for p in (steady, crashy, crashier)] == [0, 3, 7]
    assert [p.name for p in rank_for_deletion([steady, crashy, crashier])] == ["web-c", "web-b", "web-a"]


def test_available_replicas_wait_min_ready_seconds_after_the_agents_ready() -> None:
    path = "namespaces/default/replicationControllers/web"
    created = NOW - timedelta(days=1)
    rc = Doc(path, rc_doc("web", 1, minReadySeconds=30), NOW, created)
    ref = owner_ref("web", controller_uid(path, created))
    data = pod_data(conditions=[{"type": "Ready", "status": "True", "lastTransitionTime": NOW - timedelta(seconds=10)}])
    data["metadata"].update(labels={"app": "web"}, ownerReferences=[ref])
    data["spec"]["nodeName"] = "fc-web-1"
    pod = PodInfo.from_doc(doc(data))
    status = plan_sync(rc, [pod], SETTINGS, NOW).writes[0].fields["status"]
    assert (status["readyReplicas"], status["availableReplicas"]) == (1, 0)
    later = plan_sync(rc, [pod], SETTINGS, NOW + timedelta(seconds=21)).writes[0].fields["status"]
    assert (later["readyReplicas"], later["availableReplicas"]) == (1, 1)


def test_a_template_restart_policy_other_than_always_is_refused() -> None:
    for policy in ("Never", "OnFailure"):
        data = rc_doc("web", 1)
        data["spec"]["template"]["spec"]["restartPolicy"] = policy
        assert parse_controller(data, "default", "web", 100).errors == [
            f'spec.template.spec.restartPolicy: Unsupported value: "{policy}": supported values: "Always"'
        ]
    data["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert parse_controller(data, "default", "web", 100).ok
