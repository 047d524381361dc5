"""Parsing and validation of controller and pod documents (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.api.names import MAX_CONTROLLER_NAME, generate_pod_name, name_problem
from functions.api.parse import parse_controller, parse_controller_status, parse_pod
from tests.helpers import fixture, pod_doc, rc_doc

CLI_FIXTURES = Path(__file__).parents[1] / "cli" / "fixtures"


def errors(doc: Any, name: str = "web", cap: int = 100) -> list[str]:
    return parse_controller(doc, "default", name, cap).errors


def test_valid_controller_round_trips_and_keeps_unknown_fields() -> None:
    doc = rc_doc("web", 3)
    doc["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    doc["spec"]["paused"] = True
    parsed = parse_controller(doc, "default", "web", 100)
    assert parsed.ok and parsed.obj is not None
    assert parsed.unknown == ["spec.paused", "spec.template.spec.containers[0].volumeMounts"]
    out = parsed.obj.to_doc()
    assert out["spec"]["paused"] is True
    assert out["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]


def test_selector_defaults_to_template_labels() -> None:
    doc = rc_doc("web", 1)
    del doc["spec"]["selector"]
    parsed = parse_controller(doc, "default", "web", 100)
    assert parsed.obj is not None and parsed.obj.spec.selector == {"app": "web"}


def test_replicas_default_to_one() -> None:
    doc = rc_doc("web", 1)
    del doc["spec"]["replicas"]
    parsed = parse_controller(doc, "default", "web", 100)
    assert parsed.obj is not None and parsed.obj.spec.replicas == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", "spec.replicas: Input should be a valid integer"),
        (True, "spec.replicas: Input should be a valid integer"),
        (2.5, "spec.replicas: Input should be a valid integer"),
        (-1, "spec.replicas: Input should be greater than or equal to 0"),
        (101, "spec.replicas: 101 is over this installation's cap of 100"),
    ],
)
def test_replicas_must_be_an_integer_within_the_cap(value: object, expected: str) -> None:
    doc = rc_doc("web", 1)
    doc["spec"]["replicas"] = value
    [message] = errors(doc)
    assert message.startswith(expected)


def test_cap_is_configurable() -> None:
    assert errors(rc_doc("web", 101), cap=200) == []
    assert errors(rc_doc("web", 0), cap=0) == []


def test_messages_are_path_precise() -> None:
    doc = rc_doc("web", 1)
    doc["spec"]["template"]["spec"]["containers"] = [
        {"name": "ok", "image": "nginx"},
        {"name": "Bad_Name", "ports": [{"containerPort": 70000}]},
    ]
    found = errors(doc)
    assert any(m.startswith("spec.template.spec.containers[1].image: Field required") for m in found)
    assert any(m.startswith("spec.template.spec.containers[1].name: container name 'Bad_Name'") for m in found)
    assert any(m.startswith("spec.template.spec.containers[1].ports[0].containerPort:") for m in found)


def test_selector_must_match_template_labels() -> None:
    doc = rc_doc("web", 1)
    doc["spec"]["selector"] = {"app": "other"}
    [message] = errors(doc)
    assert message.startswith("spec.selector: {'app': 'other'} does not match the template's labels")


def test_empty_selector_and_labels_are_rejected() -> None:
    doc = rc_doc("web", 1)
    doc["spec"]["selector"] = {}
    doc["spec"]["template"]["metadata"]["labels"] = {}
    [message] = errors(doc)
    assert "must not be empty" in message


def test_at_least_one_container() -> None:
    doc = rc_doc("web", 1)
    doc["spec"]["template"]["spec"]["containers"] = []
    [message] = errors(doc)
    assert message.startswith("spec.template.spec.containers: List should have at least 1 item")


@pytest.mark.parametrize("name", ["Web", "web_1", "9web", "web-", "x" * (MAX_CONTROLLER_NAME + 1), "we b"])
def test_controller_names_must_fit_instance_names(name: str) -> None:
    doc = rc_doc(name, 1, app="web")
    [message] = errors(doc, name=name)
    assert message.startswith("metadata: ReplicationController name")


def test_longest_controller_name_makes_a_valid_pod_name() -> None:
    name = "a" * MAX_CONTROLLER_NAME
    assert errors(rc_doc(name, 1), name=name) == []
    pod = generate_pod_name(name)
    assert name_problem(pod, 40) is None and len(pod) == 40


def test_name_must_match_document_id() -> None:
    [message] = errors(rc_doc("web", 1), name="api")
    assert message == "metadata.name: 'web' does not match the document id 'api'"


@pytest.mark.parametrize("doc", ["text", 5, None, ["a"]])
def test_document_that_is_not_a_map(doc: object) -> None:
    assert errors(doc) == [f"(document): must be a map, not {type(doc).__name__}"]


def test_hostile_label_values_are_rejected() -> None:
    doc = rc_doc("web", 1)
    doc["spec"]["template"]["metadata"]["labels"]["evil"] = "$(reboot)"
    assert any("label value '$(reboot)'" in m for m in errors(doc))


def test_real_kubernetes_manifest_is_accepted_unchanged() -> None:
    parsed = parse_controller(fixture("rc-v1.yaml"), "default", "nginx", 100)
    assert parsed.ok and parsed.unknown == [] and not parsed.legacy
    assert parsed.obj is not None and parsed.obj.spec.replicas == 3


def test_2014_shape_is_converted() -> None:
    parsed = parse_controller(_rc_2014(), "default", "nginx-controller", 100)
    assert parsed.ok and parsed.legacy and parsed.obj is not None
    spec = parsed.obj.spec
    assert (spec.replicas, spec.selector) == (2, {"name": "nginx"})
    assert spec.template.metadata.labels == {"name": "nginx"}
    [container] = spec.template.spec.containers
    assert (container.name, container.image) == ("container-0", "dockerfile/nginx")


def test_host_port_is_honoured_as_the_2014_files_ask() -> None:
    """Each pod is its own VM: a hostPort is a port of that VM, redirected to the
    containerPort by the agent. The seed's 2014 controller (80 on 8080) and the July 2014
    guestbook frontend (80 on 8000) parse with the hostPorts they were published with."""
    parsed = parse_controller(fixture("rc-2014.json"), "default", "nginx-controller", 100)
    assert parsed.errors == [] and parsed.obj is not None
    assert parsed.obj.spec.template.spec.containers[0].ports[0].host_port == 8080
    frontend = json.loads((CLI_FIXTURES / "frontend-controller-2014.json").read_text())
    frontend["id"] = "frontend"  # 'frontendController' is no DNS name (a problem of its own)
    parsed = parse_controller(frontend, "default", "frontend", 100)
    assert parsed.obj is not None, parsed.errors
    [port] = parsed.obj.spec.template.spec.containers[0].ports
    assert (port.container_port, port.host_port, port.protocol) == (80, 8000, "TCP")
    same = pod_doc("web", {"app": "web"})
    same["spec"]["containers"][0]["ports"] = [{"containerPort": 6379, "hostPort": 6380}]
    assert parse_pod(same, "default", "web").ok


def _two(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> list[str]:
    doc = pod_doc("web", {"app": "web"})
    doc["spec"]["containers"] = [{"name": "web", "image": "nginx", "ports": first},
                                 {"name": "side", "image": "nginx", "ports": second}]
    return parse_pod(doc, "default", "web").errors


def test_host_ports_one_vm_cannot_honour_are_refused_path_first() -> None:
    assert _two([{"containerPort": 80, "hostPort": 8000}], [{"containerPort": 81, "hostPort": 8000}]) == [
        "spec.containers[1].ports[0].hostPort: 8000/TCP is also the hostPort of containers[0].ports[0]: each "
        "pod is one VM, and one port of it can reach one container port only"]
    assert _two([{"containerPort": 80}], [{"containerPort": 81, "hostPort": 80}]) == [
        "spec.containers[1].ports[0].hostPort: 80/TCP is the containerPort of containers[0].ports[0], which "
        "listens on the VM's port 80 itself (each pod is one VM, its containers on the VM's network); choose "
        "another hostPort"]
    # The same container's other port, and hostPort = containerPort beside another container on it.
    assert _two([{"containerPort": 80, "hostPort": 8080}, {"containerPort": 8080}], [])[0].startswith(
        "spec.containers[0].ports[0].hostPort: 8080/TCP is the containerPort of containers[0].ports[1]")
    assert _two([{"containerPort": 80, "hostPort": 80}], [{"containerPort": 80}])[0].startswith(
        "spec.containers[0].ports[0].hostPort: 80/TCP is the containerPort of containers[1].ports[0]")
    assert _two([{"containerPort": 81, "hostPort": 10256}], []) == [
        "spec.containers[0].ports[0].hostPort: 10256/TCP is the pod agent's health port, which load balancers "
        "check; choose another hostPort"]
    # Protocols are apart; hostPort = containerPort alone, and one redirect beside its own port, are fine.
    assert _two([{"containerPort": 53, "hostPort": 5353, "protocol": "UDP"}],
                [{"containerPort": 5353}, {"containerPort": 10256, "hostPort": 10256, "protocol": "UDP"}]) == []
    assert _two([{"containerPort": 80, "hostPort": 80}], [{"containerPort": 81, "hostPort": 8081}]) == []
    # In a template, the path is the template's.
    doc = rc_doc("web", 1)
    doc["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": 80, "hostPort": 8000}, {"containerPort": 81, "hostPort": 8000}]
    assert errors(doc)[0].startswith("spec.template.spec.containers[0].ports[1].hostPort: 8000/TCP is also ")


def _rc_2014() -> dict[str, Any]:
    """The seed's 2014 controller, as published (hostPort 8080 on containerPort 80)."""
    return fixture("rc-2014.json")


def test_2014_replicas_in_set_is_accepted() -> None:
    doc = _rc_2014()
    doc["desiredState"]["replicasInSet"] = doc["desiredState"].pop("replicaSelector")
    parsed = parse_controller(doc, "default", "nginx-controller", 100)
    assert parsed.obj is not None and parsed.obj.spec.selector == {"name": "nginx"}


def test_2014_shape_with_metadata_written_by_the_functions_is_still_2014() -> None:
    doc = _rc_2014()
    doc["metadata"] = {"uid": "u", "generation": 1, "resourceVersion": "3"}
    parsed = parse_controller(doc, "default", "nginx-controller", 100)
    assert parsed.ok and parsed.legacy
    assert parsed.obj is not None and parsed.obj.metadata.uid == "u"


def test_status_is_read_leniently() -> None:
    assert parse_controller_status({"status": "garbage"}).replicas == 0
    assert parse_controller_status({"status": {"replicas": "x"}}).replicas == 0
    assert parse_controller_status({"status": {"replicas": 4}}).replicas == 4


def test_pod_validation() -> None:
    assert parse_pod(pod_doc("p", {"a": "b"}), "default", "p").ok
    bad = pod_doc("p", {"a": "b"})
    bad["spec"]["containers"] = [{"name": "ab", "image": "x"}, {"name": "ab", "image": "y"}]
    [message] = parse_pod(bad, "default", "p").errors
    assert "duplicate container names ['ab']" in message
    nul = pod_doc("p", {"a": "b"})
    nul["spec"]["containers"][0]["env"] = [{"name": "A", "value": "x\x00y"}]
    assert any("must not contain NUL" in m for m in parse_pod(nul, "default", "p").errors)


def test_hostile_strings_in_command_and_env_are_valid_data() -> None:
    doc = pod_doc("p", {"a": "b"})
    hostile = "'; rm -rf / #$(reboot)`id`\n- yaml: [injection]"
    doc["spec"]["containers"][0].update(
        command=[hostile], args=[hostile], env=[{"name": "X", "value": hostile}]
    )
    parsed = parse_pod(doc, "default", "p")
    assert parsed.obj is not None
    container = parsed.obj.spec.containers[0]
    assert container.command == [hostile] and container.env[0].value == hostile


# -- issue 13: pod status field names as Kubernetes spells them ---------------------------


def test_pod_addresses_are_written_as_kubernetes_spells_them() -> None:
    from datetime import UTC, datetime

    from functions.api.pod import PodStatus
    from functions.cloudprovider import InstanceInfo
    from functions.controllers.pods import pod_status

    info = InstanceInfo(name="fc-web", status="RUNNING", internal_ip="10.0.0.7", zone="us-central1-a")
    status = pod_status(PodStatus(), info, datetime(2025, 1, 1, tzinfo=UTC)).to_doc()
    assert status["podIP"] == status["hostIP"] == "10.0.0.7"
    assert status["podIPs"] == status["hostIPs"] == [{"ip": "10.0.0.7"}]
    assert not {"podIp", "hostIp", "podIps", "hostIps"} & status.keys()


@pytest.mark.parametrize("old", [{"podIp": "10.0.0.2", "hostIp": "10.0.0.3"}, {"podIP": "10.0.0.2", "hostIP": "10.0.0.3"}])
def test_pod_addresses_are_read_in_either_spelling(old: dict[str, str]) -> None:
    from functions.api.pod import PodStatus

    status = PodStatus.model_validate({"phase": "Running", **old})
    assert (status.pod_ip, status.host_ip) == ("10.0.0.2", "10.0.0.3")
    doc = status.to_doc()
    assert (doc["podIP"], doc["hostIP"]) == ("10.0.0.2", "10.0.0.3")
    assert "podIp" not in doc and "hostIp" not in doc


def test_a_terminated_container_has_a_container_id_as_kubernetes_spells_it() -> None:
    from functions.api.pod import ContainerStateTerminated

    doc = ContainerStateTerminated(exit_code=1, container_id="docker://abc").to_doc()
    assert doc == {"exitCode": 1, "containerID": "docker://abc"}


# -- issue 13: a finished pod is not ready ---------------------------------------------------


def _ready_pod() -> Any:
    from datetime import UTC, datetime

    from functions.api.meta import Condition
    from functions.api.pod import PodStatus

    then = datetime(2025, 1, 1, tzinfo=UTC)
    return PodStatus(phase="Running", pod_ip="10.0.0.7", conditions=[
        Condition(type="ContainersReady", status="True", last_transition_time=then),
        Condition(type="Ready", status="True", last_transition_time=then),
    ])


def _readiness(status: Any) -> dict[str, tuple[str, str | None]]:
    return {c.type: (c.status, c.reason) for c in status.conditions if c.type in ("Ready", "ContainersReady")}


@pytest.mark.parametrize("vm_status", [None, "TERMINATED"])
def test_a_pod_whose_vm_is_gone_or_stopped_is_neither_ready_nor_containers_ready(vm_status: str | None) -> None:
    from datetime import UTC, datetime

    from functions.cloudprovider import InstanceInfo
    from functions.controllers.pods import pod_status

    info = None if vm_status is None else InstanceInfo(name="fc-web", zone="us-central1-a", status=vm_status)
    status = pod_status(_ready_pod(), info, datetime(2025, 1, 2, tzinfo=UTC))
    assert status.phase == "Failed"
    assert {s for s, _ in _readiness(status).values()} == {"False"}
    assert _readiness(status)["ContainersReady"] == ("False", "PodFailed")


def test_a_failed_report_makes_ready_false_with_kubelets_reason() -> None:
    from datetime import UTC, datetime

    from functions.api.pod import PodSpec
    from functions.api.report import Report, derive_status

    spec = PodSpec.model_validate({"containers": [{"name": "web", "image": "nginx"}], "restartPolicy": "Never"})
    report = Report.model_validate({"pod": "default/web", "boot": "b1", "sequence": 1, "containers": [
        {"name": "web", "state": "terminated", "exitCode": 1}]})
    status = derive_status(spec, _ready_pod(), report, datetime(2025, 1, 2, tzinfo=UTC))
    assert status.phase == "Failed"
    assert _readiness(status) == {"ContainersReady": ("False", "PodFailed"), "Ready": ("False", "PodFailed")}


def test_finished_conditions_follow_the_phase() -> None:
    from datetime import UTC, datetime

    from functions.api.pod import finished_readiness

    now = datetime(2025, 1, 2, tzinfo=UTC)
    failed = finished_readiness(_ready_pod().model_copy(update={"phase": "Failed"}), now)
    done = finished_readiness(_ready_pod().model_copy(update={"phase": "Succeeded"}), now)
    assert _readiness(failed) == {"ContainersReady": ("False", "PodFailed"), "Ready": ("False", "PodFailed")}
    assert _readiness(done) == {"ContainersReady": ("False", "PodCompleted"), "Ready": ("False", "PodCompleted")}
    assert all(c.last_transition_time == now for c in failed.conditions)
    running = _ready_pod()
    assert finished_readiness(running, now) == running


def test_pod_status_of_either_spelling_reads_with_kubernetes_names() -> None:
    from functions.api.pod import PodStatus, current_spellings

    old = {"phase": "Running", "podIp": "10.0.0.4", "hostIp": "10.0.0.5"}
    assert current_spellings(old) == {"phase": "Running", "podIP": "10.0.0.4", "hostIP": "10.0.0.5"}
    assert current_spellings({"podIp": "old", "podIP": "new"}) == {"podIP": "new"}
    same = {"podIP": "10.0.0.4"}
    assert current_spellings(same) is same
    assert PodStatus.model_validate(old).pod_ip == "10.0.0.4"
