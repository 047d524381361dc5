"""The simulated agent through real HTTP: reports to a local stand-in for pod_status, admin
actions, health through the real google-cloud-compute client, and the load balancer view."""

from __future__ import annotations

import re
import time
import urllib.error
from collections.abc import Iterator
from typing import Any

import google.auth.transport.requests
import pytest
from google.cloud import compute_v1
from google.oauth2 import id_token

from emulator.compute import ComputeEmulator
from tests.compute.agent_support import (
    SCALE,
    Receiver,
    agent_path,
    call,
    make_vm,
    pod_metadata,
    serve_receiver,
    set_items,
    wait_for,
)
from tests.compute.support import PROJECT, REGION, ZONE
from tests.compute.test_emulator_api import wait_region

WEB = {"name": "web", "image": "nginx:1.25"}


@pytest.fixture
def agents(emulator: ComputeEmulator) -> ComputeEmulator:
    """The compute tests' emulator with agents running SCALE times faster than real time."""
    emulator.configure({"agent_time_scale": SCALE})
    return emulator


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as found:
        yield found


def view(emulator: ComputeEmulator, name: str = "vm") -> Any:
    return call(emulator, "GET", agent_path(name))


def act(emulator: ComputeEmulator, name: str = "vm", **body: Any) -> Any:
    return call(emulator, "POST", agent_path(name), body)


def container(emulator: ComputeEmulator, name: str = "vm", index: int = 0) -> Any:
    return view(emulator, name)["containers"][index]


def start(emulator: ComputeEmulator, client_kwargs: dict[str, Any], receiver: Receiver,
          containers: list[dict[str, str]] | None = None, name: str = "vm", **extra: str) -> None:
    make_vm(client_kwargs, name, pod_metadata(receiver.url, containers or [WEB], **extra))
    wait_for(lambda: _agent_ready(emulator, name), message=f"agent on {name} ready")


def _agent_ready(emulator: ComputeEmulator, name: str) -> bool:
    try:
        return bool(view(emulator, name)["ready"])
    except urllib.error.HTTPError:
        return False


def test_reports_are_signed_for_the_instance_and_shaped_as_the_protocol_says(
        agents: ComputeEmulator, client_kwargs: dict[str, Any], receiver: Receiver) -> None:
    start(agents, client_kwargs, receiver)
    wait_for(lambda: any(b["containers"][0]["ready"] for b in receiver.bodies()), message="a ready report")
    report = receiver.reports[-1]
    claims = id_token.verify_token(report.token, google.auth.transport.requests.Request(), audience=receiver.url,
                                   certs_url=f"{agents.url}/oauth2/v1/certs")
    instance = compute_v1.InstancesClient(**client_kwargs).get(project=PROJECT, zone=ZONE, instance="vm")
    engine = claims["google"]["compute_engine"]
    assert claims["iss"] == agents.url
    assert (engine["instance_name"], engine["instance_id"], engine["zone"], engine["project_id"]) == (
        "vm", str(instance.id), ZONE, PROJECT)

    bodies = receiver.bodies()
    assert bodies[0]["containers"][0]["state"] == "waiting"  # ContainerCreating is reported too
    assert bodies[0]["containers"][0]["reason"] == "ContainerCreating"
    body = bodies[-1]
    assert body["pod"] == "default/web-1" and body["terminating"] is False
    assert re.fullmatch(r"[a-z0-9]{1,40}", body["boot"])
    sequences = [b["sequence"] for b in bodies]
    assert sequences == sorted(set(sequences))
    web = body["containers"][0]
    assert set(web) == {"name", "state", "reason", "message", "exitCode", "signal", "startedAt", "finishedAt",
                        "lastState", "restartCount", "ready", "started", "imageID", "containerID"}
    assert (web["name"], web["state"], web["ready"], web["started"], web["restartCount"]) == ("web", "running", True, True, 0)
    assert abs(web["startedAt"] - time.time()) < 10  # wall clock, not scaled
    assert web["imageID"].startswith("docker-pullable://nginx@sha256:") and web["containerID"].startswith("docker://")
    assert view(agents)["lastReplyCode"] == 200

    serial = compute_v1.InstancesClient(**client_kwargs).get_serial_port_output(
        request=compute_v1.GetSerialPortOutputInstanceRequest(project=PROJECT, zone=ZONE, instance="vm", port=2))
    assert "fc-log web started nginx:1.25\n" in serial.contents
    act(agents, container="web", action="output", text="hello\nworld")
    serial = compute_v1.InstancesClient(**client_kwargs).get_serial_port_output(
        request=compute_v1.GetSerialPortOutputInstanceRequest(project=PROJECT, zone=ZONE, instance="vm", port=2,
                                                              start=serial.next_))
    assert serial.contents == "fc-log web hello\nfc-log web world\n"


def test_heartbeats_repeat_the_report_with_a_new_sequence(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                                         receiver: Receiver) -> None:
    start(agents, client_kwargs, receiver, fc_heartbeat_seconds="5")  # 0.1 s here
    count = len(receiver.bodies())
    wait_for(lambda: len(receiver.bodies()) >= count + 3, message="three heartbeats")
    last = receiver.bodies()[-2:]
    assert last[0]["sequence"] < last[1]["sequence"]
    assert {**last[0], "sequence": 0} == {**last[1], "sequence": 0}


def test_a_crashing_container_restarts_with_a_growing_back_off(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                                               receiver: Receiver) -> None:
    start(agents, client_kwargs, receiver)
    messages = []
    for restarts in (1, 2, 3):
        act(agents, container="web", action="crash")
        if restarts > 1:  # the first restart is at once, as the kubelet's
            waiting = wait_for(lambda: container(agents)["reason"] == "CrashLoopBackOff" and container(agents),
                               message="CrashLoopBackOff")
            messages.append(waiting["message"])
            assert waiting["lastState"]["exitCode"] == 1 and waiting["lastState"]["reason"] == "Error"
            assert view(agents)["ready"] is False
        wait_for(lambda n=restarts: container(agents)["state"] == "running" and container(agents)["restartCount"] == n,
                 message=f"restart {restarts}")
    assert messages == ["back-off 10s restarting failed container=web", "back-off 20s restarting failed container=web"]
    wait_for(lambda: any(c["reason"] == "CrashLoopBackOff" for b in receiver.bodies() for c in b["containers"]),
             message="a CrashLoopBackOff report")
    wait_for(lambda: receiver.bodies()[-1]["containers"][0]["restartCount"] == 3, message="restartCount 3 reported")


def _health_check_pool(emulator: ComputeEmulator, client_kwargs: dict[str, Any], names: list[str]) -> None:
    op = emulator.state.insert(PROJECT, "global", "httpHealthChecks",
                               {"name": "hc", "port": 10256, "requestPath": "/healthz"})
    from emulator.compute.model import Key

    wait_for(lambda: emulator.state.operation(Key(PROJECT, "global", "operations", op["name"])).done)
    pool = compute_v1.TargetPool(name="pool", health_checks=[f"projects/{PROJECT}/global/httpHealthChecks/hc"],
                                 instances=[f"projects/{PROJECT}/zones/{ZONE}/instances/{n}" for n in names])
    wait_region(client_kwargs, compute_v1.TargetPoolsClient(**client_kwargs).insert_unary(
        project=PROJECT, region=REGION, target_pool_resource=pool))
    rule = compute_v1.ForwardingRule(name="rule", target=f"projects/{PROJECT}/regions/{REGION}/targetPools/pool",
                                     I_p_protocol="TCP", port_range="80")
    wait_region(client_kwargs, compute_v1.ForwardingRulesClient(**client_kwargs).insert_unary(
        project=PROJECT, region=REGION, forwarding_rule_resource=rule))


def health(client_kwargs: dict[str, Any], name: str = "vm") -> str:
    ref = compute_v1.InstanceReference(instance=f"projects/{PROJECT}/zones/{ZONE}/instances/{name}")
    answer = compute_v1.TargetPoolsClient(**client_kwargs).get_health(
        project=PROJECT, region=REGION, target_pool="pool", instance_reference_resource=ref)
    return str(answer.health_status[0].health_state)


def test_readiness_failing_and_passing_flips_ready_and_health(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                                              receiver: Receiver) -> None:
    probed = {**WEB, "readiness": "http", "readiness-timing": "0 1 1 1 2", "readiness-port": "80",
              "readiness-path": "/ready"}
    start(agents, client_kwargs, receiver, [probed])
    _health_check_pool(agents, client_kwargs, ["vm"])
    assert health(client_kwargs) == "HEALTHY"
    act(agents, container="web", action="readiness", ok=False)
    wait_for(lambda: not container(agents)["ready"], message="not ready")
    assert container(agents)["state"] == "running" and container(agents)["restartCount"] == 0
    assert health(client_kwargs) == "UNHEALTHY"
    wait_for(lambda: receiver.bodies()[-1]["containers"][0]["ready"] is False, message="a not-ready report")
    act(agents, container="web", action="readiness", ok=True)
    wait_for(lambda: health(client_kwargs) == "HEALTHY", message="healthy again")


def test_a_failing_liveness_probe_restarts_the_container(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                                         receiver: Receiver) -> None:
    probed = {**WEB, "liveness": "tcp", "liveness-timing": "0 1 1 1 3", "liveness-port": "80"}
    start(agents, client_kwargs, receiver, [probed])
    act(agents, container="web", action="liveness", ok=False)
    restarted = wait_for(lambda: container(agents)["restartCount"] >= 1 and container(agents), message="a restart")
    assert restarted["lastState"]["exitCode"] == 137


@pytest.mark.parametrize(("code", "reason"), [(0, "Completed"), (3, "Error")])
def test_an_exit_under_never_stays_terminated(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                              receiver: Receiver, code: int, reason: str) -> None:
    start(agents, client_kwargs, receiver, fc_restart_policy="Never")
    act(agents, container="web", action="exit", code=code)
    done = wait_for(lambda: container(agents)["state"] == "terminated" and container(agents), message="terminated")
    assert (done["exitCode"], done["reason"], done["restartCount"], done["ready"]) == (code, reason, 0, False)
    time.sleep(0.3)  # 15 agent seconds: longer than any back-off would be
    assert container(agents)["state"] == "terminated"
    wait_for(lambda: receiver.bodies()[-1]["containers"][0]["exitCode"] == code, message="the exit reported")


def test_on_failure_restarts_only_a_failed_container(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                                     receiver: Receiver) -> None:
    start(agents, client_kwargs, receiver, [WEB, {"name": "side", "image": "busybox"}], fc_restart_policy="OnFailure")
    act(agents, container="web", action="exit", code=0)
    act(agents, container="side", action="exit", code=2)
    wait_for(lambda: container(agents, index=1)["restartCount"] == 1, message="side restarted")
    assert container(agents)["state"] == "terminated" and container(agents)["restartCount"] == 0


def test_a_silent_vm_stops_reporting_and_resumes(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                                 receiver: Receiver) -> None:
    start(agents, client_kwargs, receiver, fc_heartbeat_seconds="2")
    act(agents, action="silent", ok=True)
    time.sleep(0.1)
    count = len(receiver.bodies())
    act(agents, container="web", action="crash")  # a change, and heartbeats due: still nothing
    time.sleep(0.4)
    assert len(receiver.bodies()) == count
    act(agents, action="silent", ok=False)
    wait_for(lambda: len(receiver.bodies()) > count, message="reports again")


def test_failed_reports_are_retried(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                    receiver: Receiver) -> None:
    receiver.status = 503
    start(agents, client_kwargs, receiver)
    wait_for(lambda: view(agents)["reportsFailed"] >= 2, message="retries")
    assert view(agents)["lastReplyCode"] == 503
    receiver.status = 200
    wait_for(lambda: view(agents)["lastReplyCode"] == 200, message="accepted at last")
    assert receiver.bodies()[-1]["containers"][0]["ready"] is True


def test_fc_terminate_ends_the_containers(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                          receiver: Receiver) -> None:
    slow = {**WEB, "prestop": "sleep", "prestop-seconds": "5"}
    start(agents, client_kwargs, receiver, [slow, {"name": "side", "image": "busybox"}])
    set_items(client_kwargs, "vm", {"fc-terminate": "30"})
    wait_for(lambda: view(agents)["terminating"], message="terminating")
    assert view(agents)["ready"] is False
    final = wait_for(lambda: [b for b in receiver.bodies() if all(c["state"] == "terminated" for c in b["containers"])],
                     message="every container terminated")[-1]
    assert final["terminating"] is True
    assert [(c["exitCode"], c["reason"]) for c in final["containers"]] == [(0, "Completed"), (0, "Completed")]


def test_a_grace_period_shorter_than_pre_stop_kills(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                                    receiver: Receiver) -> None:
    start(agents, client_kwargs, receiver, [{**WEB, "prestop": "sleep", "prestop-seconds": "60"}])
    set_items(client_kwargs, "vm", {"fc-terminate": "2"})
    done = wait_for(lambda: container(agents)["state"] == "terminated" and container(agents), message="killed")
    assert done["exitCode"] == 137


def test_the_load_balancer_maps_service_ports(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                              receiver: Receiver) -> None:
    start(agents, client_kwargs, receiver, name="a")
    start(agents, client_kwargs, receiver, name="b")
    _health_check_pool(agents, client_kwargs, ["a", "b"])
    ip = compute_v1.ForwardingRulesClient(**client_kwargs).get(project=PROJECT, region=REGION,
                                                               forwarding_rule="rule").I_p_address
    set_items(client_kwargs, "a", {"fc-svc-0123456789": f"tcp {ip} 80 3000\nudp {ip} 53 5353"})
    query = f"/admin/lb?project={PROJECT}&region={REGION}&ip={ip}&port=80&protocol=TCP"
    backends = {b["name"]: b["port"] for b in call(agents, "GET", query)["backends"]}
    assert backends == {"a": 3000, "b": 80}  # b has no map: the port itself
    act(agents, name="a", container="web", action="readiness", ok=False)  # no readiness probe: stays ready
    act(agents, name="b", action="silent", ok=True)
    assert {b["name"] for b in call(agents, "GET", query)["backends"]} == {"a", "b"}
    act(agents, name="a", container="web", action="exit", code=1)
    wait_for(lambda: [b["name"] for b in call(agents, "GET", query)["backends"]] == ["b"], message="a out")
    with pytest.raises(urllib.error.HTTPError) as none:
        call(agents, "GET", f"/admin/lb?project={PROJECT}&region={REGION}&ip={ip}&port=81&protocol=TCP")
    assert none.value.code == 404


def test_host_ports_are_read_as_the_agent_redirects_them(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                                         receiver: Receiver) -> None:
    start(agents, client_kwargs, receiver, fc_host_ports="tcp 8000 80\nudp 5353 53\ntcp 8000 80; reboot")
    seen = view(agents)
    assert seen["hostPorts"] == [{"protocol": "TCP", "hostPort": 8000, "containerPort": 80},
                                 {"protocol": "UDP", "hostPort": 5353, "containerPort": 53}]
    assert [p for p in seen["problems"] if p.startswith("fc-host-ports: 'tcp 8000 80; reboot'")]


def test_the_agent_stops_with_its_instance(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                           receiver: Receiver) -> None:
    start(agents, client_kwargs, receiver)
    compute_v1.InstancesClient(**client_kwargs).delete_unary(project=PROJECT, zone=ZONE, instance="vm")
    wait_for(lambda: not _agent_ready(agents, "vm"), message="agent gone")
    count = len(receiver.bodies())
    time.sleep(0.2)
    assert len(receiver.bodies()) == count


def test_bad_metadata_and_bad_admin_requests_are_explained(agents: ComputeEmulator, client_kwargs: dict[str, Any],
                                                           receiver: Receiver) -> None:
    hostile = {**WEB, "readiness": "$(reboot)", "liveness": "http", "liveness-timing": "1 2 x"}
    start(agents, client_kwargs, receiver, [hostile], fc_restart_policy="Sometimes")
    problems = view(agents)["problems"]
    assert any("fc-c0-readiness" in p for p in problems) and any("fc-restart-policy" in p for p in problems)
    assert any("fc-c0-liveness-timing" in p for p in problems)
    for body in ({"container": "nope", "action": "crash"}, {"container": "web", "action": "dance"},
                 {"container": "web", "action": "exit", "code": "x"}):
        with pytest.raises(urllib.error.HTTPError) as refused:
            act(agents, **body)
        assert refused.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as missing:
        view(agents, "nothing")
    assert missing.value.code == 404


def test_back_off_doubles_to_five_minutes_and_resets_after_ten_minutes_of_running() -> None:
    """The pure pod machine, without threads: time is whatever we pass in (scale 1)."""
    from emulator.compute.agent_pod import SimPod
    from emulator.compute.agent_spec import ContainerSpec

    pod = SimPod((ContainerSpec("web", "nginx", {}),), "Always", start_at=0.0)
    pod.step(0.0, 1.0)
    web = pod.containers[0]
    now, delays = 0.0, []
    for _ in range(8):
        web.pending_exit = 1
        pod.step(now, 1.0)
        delays.append(0.0 if web.state == "running" else web.start_at - now)  # type: ignore[operator]
        now = web.start_at if web.start_at is not None else now
        pod.step(now, 1.0)
        assert web.state == "running"
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300]
    assert web.restart_count == 8
    web.pending_exit = 1
    pod.step(now + 600, 1.0)  # ran ten minutes: the back-off starts again
    assert web.state == "running" and web.restart_count == 9


def test_an_image_from_an_invalid_registry_never_pulls_and_backs_off() -> None:
    """``registry.invalid/...`` can never be pulled: ErrImagePull, then ImagePullBackOff
    with the kubelet's doubling back-off; never running, never ready."""
    from emulator.compute.agent_pod import SimPod, unpullable
    from emulator.compute.agent_spec import ContainerSpec

    assert unpullable("registry.invalid/web:v2") and unpullable("Reg.INVALID:5000/web")
    assert not unpullable("nginx:1.27") and not unpullable("gcr.io/google-samples/gb-frontend:v5")
    pod = SimPod((ContainerSpec("web", "registry.invalid/web:v2", {}),), "Always", start_at=0.0)
    web, now, seen = pod.containers[0], 0.0, []
    for _ in range(6):
        pod.step(now, 1.0)
        seen.append((web.reason, None if web.start_at is None else web.start_at - now))
        now = web.start_at if web.start_at is not None else now
    assert seen == [("ErrImagePull", 1.0), ("ImagePullBackOff", 10.0), ("ErrImagePull", 1.0),
                    ("ImagePullBackOff", 20.0), ("ErrImagePull", 1.0), ("ImagePullBackOff", 40.0)]
    assert web.state == "waiting" and not pod.ready and web.restart_count == 0
    assert web.message == 'Back-off pulling image "registry.invalid/web:v2"'
