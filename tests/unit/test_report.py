"""The agent's report: what the parser refuses, and the pod status each report derives (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.api.meta import Condition
from functions.api.pod import PodSpec, PodStatus
from functions.api.report import MAX_BODY_BYTES, Report, ReportError, derive_status, parse_report

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
STARTED = 1_795_000_000


def container(name: str = "web", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": name, "state": "running", "startedAt": STARTED, "restartCount": 0,
                            "ready": True, "started": True, "imageID": "docker-pullable://nginx@sha256:ab",
                            "containerID": "docker://0123ef"}
    return {**base, **fields}


def body(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"pod": "default/web-x7k2p", "boot": "4f1c9a0d2e", "sequence": 17, "terminating": False,
            "containers": list(containers) or [container()], **fields}


def report(*containers: dict[str, Any], **fields: Any) -> Report:
    return parse_report(json.dumps(body(*containers, **fields)).encode())


def spec(*names: str, policy: str = "Always") -> PodSpec:
    return PodSpec.model_validate({"restartPolicy": policy,
                                   "containers": [{"name": n, "image": "nginx:1.27"} for n in names or ("web",)]})


def condition(status: PodStatus, type_: str) -> Condition:
    found = next(c for c in status.conditions if c.type == type_)
    return found


# -- parsing ----------------------------------------------------------------------


def test_a_good_report_parses_with_its_pod_namespace_and_name() -> None:
    parsed = report()
    assert (parsed.namespace, parsed.name, parsed.sequence) == ("default", "web-x7k2p", 17)
    assert parsed.containers[0].image_id == "docker-pullable://nginx@sha256:ab"


@pytest.mark.parametrize(("raw", "expected"), [
    (b"not json", "(body): not JSON"),
    (b"[1, 2]", "(body): must be a JSON object, not list"),
    (json.dumps(body(sequence="17")).encode(), "sequence: Input should be a valid integer"),
    (json.dumps(body(sequence=-1)).encode(), "sequence: Input should be greater than or equal to 0"),
    (json.dumps(body(boot="Not-A-Boot")).encode(), "boot: String should match pattern"),
    (json.dumps(body(pod="web")).encode(), "pod: 'web' is not namespace/name"),
    (json.dumps(body(pod="default/../x")).encode(), "pod: pod name '../x' must consist"),
    (json.dumps(body(extra=1)).encode(), "extra: Extra inputs are not permitted"),
    (json.dumps(body(containers=[])).encode(), "containers: List should have at least 1 item"),
    (json.dumps(body(container(state="sleeping"))).encode(), "containers[0].state: Input should be 'waiting'"),
    (json.dumps(body(container(state="terminated"))).encode(),
     "containers[0].exitCode: a terminated container must have an exit code"),
    (json.dumps(body(container(exitCode=1))).encode(),
     "containers[0].exitCode: only a terminated container has one; this one is running"),
    (json.dumps(body(container(message="x" * 1025))).encode(),
     "containers[0].message: String should have at most 1024 characters"),
    (json.dumps(body(container(message="bell\x07"))).encode(),
     "containers[0].message: must not contain control characters"),
    (json.dumps(body(container(reason="no spaces allowed"))).encode(), "containers[0].reason: String should match"),
    (json.dumps(body(container(ready="yes"))).encode(), "containers[0].ready: Input should be a valid boolean"),
    (json.dumps(body(container(restartCount=1.5))).encode(), "containers[0].restartCount: Input should be a valid integer"),
    (json.dumps(body(container(startedAt=-5))).encode(), "containers[0].startedAt: Input should be greater than"),
    (json.dumps(body(container(), container())).encode(), "containers: duplicate container names ['web']"),
    (json.dumps(body(container(lastState={"state": "running", "exitCode": 0}))).encode(),
     "containers[0].lastState.state: Input should be 'terminated'"),
], ids=lambda value: value[:40] if isinstance(value, str) else None)
def test_a_bad_body_is_refused_with_a_message_that_says_where(raw: bytes, expected: str) -> None:
    with pytest.raises(ReportError) as refused:
        parse_report(raw)
    assert any(message.startswith(expected) for message in refused.value.messages), refused.value.messages


def test_a_body_over_the_limit_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(ReportError, match="a report is at most"):
        parse_report(b" " * (MAX_BODY_BYTES + 1))


def test_the_digest_ignores_boot_and_sequence_and_nothing_else() -> None:
    assert report().digest() == report(boot="other", sequence=99).digest()
    assert report().digest() != report(container(restartCount=1)).digest()
    assert report().digest() != report(terminating=True).digest()


# -- derivation -------------------------------------------------------------------


def test_a_running_ready_container_makes_the_pod_running_and_ready() -> None:
    status = derive_status(spec(), PodStatus(), report(), T0)
    assert status.phase == "Running" and status.ready and status.start_time == T0
    (web,) = status.container_statuses
    assert web.ready and web.started and web.image == "nginx:1.27" and web.image_id.endswith("sha256:ab")  # type: ignore[union-attr]
    assert web.state is not None and web.state.running is not None
    assert web.state.running.started_at == datetime.fromtimestamp(STARTED, UTC)
    assert [(c.type, c.status) for c in status.conditions] == [
        ("Initialized", "True"), ("ContainersReady", "True"), ("Ready", "True")]
    doc = status.to_doc()
    assert doc["containerStatuses"][0]["imageID"].startswith("docker-pullable://")
    assert doc["containerStatuses"][0]["containerID"] == "docker://0123ef"


def test_a_container_backing_off_is_waiting_with_its_last_state_and_the_pod_is_not_ready() -> None:
    crashing = container(state="waiting", reason="CrashLoopBackOff", ready=False, started=False, startedAt=None,
                         message="back-off 20s restarting failed container=web", restartCount=2,
                         lastState={"state": "terminated", "exitCode": 1, "reason": "Error",
                                    "startedAt": STARTED, "finishedAt": STARTED + 3})
    status = derive_status(spec(), PodStatus(), report(crashing), T0)
    (web,) = status.container_statuses
    assert status.phase == "Running" and not status.ready
    assert web.state is not None and web.state.waiting is not None
    assert web.state.waiting.reason == "CrashLoopBackOff" and "back-off 20s" in (web.state.waiting.message or "")
    assert web.last_state is not None and web.last_state.terminated is not None
    assert (web.last_state.terminated.exit_code, web.last_state.terminated.reason) == (1, "Error")
    assert web.restart_count == 2 and not web.ready
    ready = condition(status, "Ready")
    assert (ready.status, ready.reason, ready.message) == (
        "False", "ContainersNotReady", "containers with unready status: [web]")


def test_a_container_that_says_ready_while_not_running_is_not_ready() -> None:
    status = derive_status(spec(), PodStatus(), report(container(state="waiting", reason="ContainerCreating",
                                                                 startedAt=None)), T0)
    assert status.phase == "Pending" and not status.container_statuses[0].ready
    assert not status.container_statuses[0].started


def test_never_exit_0_is_succeeded_and_exit_1_is_failed() -> None:
    def exited(code: int) -> PodStatus:
        done = container(state="terminated", exitCode=code, reason="Completed" if code == 0 else "Error",
                         finishedAt=STARTED + 5, ready=False)
        return derive_status(spec(policy="Never"), PodStatus(), report(done), T0)

    succeeded, failed = exited(0), exited(1)
    assert succeeded.phase == "Succeeded" and failed.phase == "Failed"
    terminated = failed.container_statuses[0].state.terminated  # type: ignore[union-attr]
    assert terminated is not None and terminated.exit_code == 1 and terminated.container_id == "docker://0123ef"
    assert condition(succeeded, "Ready").reason == "PodCompleted"


def test_never_with_one_container_still_running_is_running() -> None:
    done = container("job", state="terminated", exitCode=1, finishedAt=STARTED + 5, ready=False)
    status = derive_status(spec("web", "job", policy="Never"), PodStatus(), report(container(), done), T0)
    assert status.phase == "Running"
    assert [s.name for s in status.container_statuses] == ["web", "job"]


def test_on_failure_ends_only_when_every_container_exited_0() -> None:
    ok = container(state="terminated", exitCode=0, finishedAt=STARTED + 5, ready=False)
    bad = container(state="terminated", exitCode=2, finishedAt=STARTED + 5, ready=False)
    assert derive_status(spec(policy="OnFailure"), PodStatus(), report(ok), T0).phase == "Succeeded"
    assert derive_status(spec(policy="OnFailure"), PodStatus(), report(bad), T0).phase == "Running"
    assert derive_status(spec(policy="Always"), PodStatus(), report(ok), T0).phase == "Running"


def test_a_terminating_pod_is_not_ready_though_its_containers_are() -> None:
    status = derive_status(spec(), PodStatus(), report(terminating=True), T0)
    assert not status.ready and condition(status, "ContainersReady").status == "True"
    assert condition(status, "Ready").reason == "PodTerminating"


def test_a_finished_phase_never_goes_back() -> None:
    finished = derive_status(spec(policy="Never"), PodStatus(), report(
        container(state="terminated", exitCode=0, finishedAt=STARTED + 5, ready=False)), T0)
    again = derive_status(spec(policy="Never"), finished, report(), T0 + timedelta(minutes=1))
    assert again == finished and again.phase == "Succeeded"
    failed = PodStatus(phase="Failed", reason="NodeLost")
    assert derive_status(spec(), failed, report(), T0) == failed


def test_transition_times_stay_while_a_condition_keeps_its_status() -> None:
    first = derive_status(spec(), PodStatus(), report(), T0)
    later = T0 + timedelta(minutes=5)
    same = derive_status(spec(), first, report(container(restartCount=0)), later)
    assert all(c.last_transition_time == T0 for c in same.conditions)
    down = derive_status(spec(), same, report(container(ready=False)), later)
    assert condition(down, "Ready").last_transition_time == later
    assert condition(down, "Initialized").last_transition_time == T0


def test_what_the_pod_runtime_owns_is_kept_and_ready_unknown_is_replaced() -> None:
    old = PodStatus(phase="Running", vm_zone="us-central1-a", vm_id="42", vm_agent="1", pod_ip="10.0.0.2",
                    start_time=T0 - timedelta(hours=1),
                    conditions=[Condition(type="PodScheduled", status="True", last_transition_time=T0),
                                Condition(type="Ready", status="Unknown", reason="NodeStatusUnknown")])
    status = derive_status(spec(), old, report(), T0)
    assert (status.vm_zone, status.vm_id, status.vm_agent, status.pod_ip) == ("us-central1-a", "42", "1", "10.0.0.2")
    assert status.start_time == T0 - timedelta(hours=1)
    assert condition(status, "PodScheduled").last_transition_time == T0
    assert condition(status, "Ready").status == "True" and condition(status, "Ready").reason is None


def test_a_container_the_agent_did_not_mention_is_still_being_created() -> None:
    status = derive_status(spec("web", "side"), PodStatus(), report(container()), T0)
    side = status.container_statuses[1]
    assert side.state is not None and side.state.waiting is not None
    assert side.state.waiting.reason == "ContainerCreating" and not status.ready
    assert condition(status, "Ready").message == "containers with unready status: [side]"
