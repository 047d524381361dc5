"""setMetadata with fingerprints, serial port output and targetPools.getHealth, through the real client."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from emulator.compute import ComputeEmulator
from emulator.compute.model import Key
from emulator.compute.serial import WINDOW
from tests.compute.support import PROJECT, REGION, ZONE, seed
from tests.compute.test_emulator_api import reason, wait_region, wait_zone


def items(instance: compute_v1.Instance) -> dict[str, str]:
    return {i.key: i.value for i in instance.metadata.items}


def test_set_metadata_changes_the_fingerprint_and_refuses_a_stale_one(emulator: ComputeEmulator,
                                                                     client_kwargs: dict[str, Any]) -> None:
    seed(emulator, ["vm"])
    instances = compute_v1.InstancesClient(**client_kwargs)
    before = instances.get(project=PROJECT, zone=ZONE, instance="vm")
    first = before.metadata.fingerprint
    assert first and before.metadata.kind == "compute#metadata"

    body = compute_v1.Metadata(fingerprint=first, items=[compute_v1.Items(key="fc-terminate", value="30")])
    op = instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance="vm", metadata_resource=body)
    assert op.operation_type == "setMetadata"
    assert not wait_zone(client_kwargs, op).error.errors
    after = instances.get(project=PROJECT, zone=ZONE, instance="vm")
    assert items(after) == {"fc-terminate": "30"}
    assert after.metadata.fingerprint not in ("", first)

    for stale in (first, None):  # the old fingerprint, or none at all
        body = compute_v1.Metadata(fingerprint=stale, items=[compute_v1.Items(key="x", value="y")])
        with pytest.raises(gexc.PreconditionFailed) as refused:
            instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance="vm", metadata_resource=body)
        assert reason(refused.value) == "conditionNotMet"
        assert refused.value.message.endswith(": Supplied fingerprint does not match current metadata fingerprint.")
    assert items(instances.get(project=PROJECT, zone=ZONE, instance="vm")) == {"fc-terminate": "30"}


def test_two_writers_with_one_fingerprint_the_second_fails_when_applied(emulator: ComputeEmulator,
                                                                       client_kwargs: dict[str, Any]) -> None:
    emulator.configure({"operation_delay": 0.2})
    seed(emulator, ["vm"])
    instances = compute_v1.InstancesClient(**client_kwargs)
    seen = instances.get(project=PROJECT, zone=ZONE, instance="vm").metadata.fingerprint
    ops = [instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance="vm", metadata_resource=compute_v1.Metadata(
        fingerprint=seen, items=[compute_v1.Items(key="k", value=v)])) for v in ("a", "b")]
    done = [wait_zone(client_kwargs, op) for op in ops]
    assert not done[0].error.errors
    assert done[1].error.errors[0].code == "CONDITION_NOT_MET"
    assert items(instances.get(project=PROJECT, zone=ZONE, instance="vm")) == {"k": "a"}


def test_set_metadata_checks_keys(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    seed(emulator, ["vm"])
    instances = compute_v1.InstancesClient(**client_kwargs)
    seen = instances.get(project=PROJECT, zone=ZONE, instance="vm").metadata.fingerprint
    body = compute_v1.Metadata(fingerprint=seen, items=[compute_v1.Items(key="bad key", value="v")])
    with pytest.raises(gexc.BadRequest):
        instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance="vm", metadata_resource=body)


def test_serial_output_pages_and_keeps_the_last_megabyte(emulator: ComputeEmulator,
                                                        client_kwargs: dict[str, Any]) -> None:
    seed(emulator, ["vm"])
    instances = compute_v1.InstancesClient(**client_kwargs)
    key = Key(PROJECT, f"zones/{ZONE}", "instances", "vm")
    instance_id = str(emulator.state.resources[key]["id"])

    def read(port: int = 2, start: int = 0) -> compute_v1.SerialPortOutput:
        return instances.get_serial_port_output(request=compute_v1.GetSerialPortOutputInstanceRequest(
            project=PROJECT, zone=ZONE, instance="vm", port=port, start=start))

    empty = read()
    assert (empty.contents, empty.start, empty.next_) == ("", 0, 0)
    emulator.state.serial.write(key, instance_id, 2, "fc-log web one\n")
    first = read()
    assert first.contents == "fc-log web one\n" and first.next_ == 15
    assert first.self_link.endswith(f"/zones/{ZONE}/instances/vm/serialPort")
    emulator.state.serial.write(key, instance_id, 2, "fc-log web two\n")
    assert read(start=first.next_).contents == "fc-log web two\n"
    assert read(start=-4).contents == "two\n"
    assert read(port=1).contents == ""  # ports are apart

    emulator.state.serial.write(key, instance_id, 2, "x" * WINDOW)
    late = read(start=0)  # the first bytes are gone: the answer starts at the kept window
    assert late.start == 30 and len(late.contents) == WINDOW and late.next_ == WINDOW + 30

    with pytest.raises(gexc.BadRequest):
        read(port=5)
    with pytest.raises(gexc.NotFound):
        instances.get_serial_port_output(request=compute_v1.GetSerialPortOutputInstanceRequest(
            project=PROJECT, zone=ZONE, instance="gone", port=2))


def _pool(emulator: ComputeEmulator, client_kwargs: dict[str, Any], members: list[str], check: tuple[int, str] | None) -> None:
    checks = []
    if check is not None:
        # google-cloud-compute no longer ships an httpHealthChecks client: the emulator's own verb.
        op = emulator.state.insert(PROJECT, "global", "httpHealthChecks",
                                   {"name": "hc", "port": check[0], "requestPath": check[1]})
        while not emulator.state.operation(Key(PROJECT, "global", "operations", op["name"])).done:
            time.sleep(0.005)
        checks = [f"projects/{PROJECT}/global/httpHealthChecks/hc"]
    pool = compute_v1.TargetPool(name="pool", health_checks=checks,
                                 instances=[f"projects/{PROJECT}/zones/{ZONE}/instances/{m}" for m in members])
    wait_region(client_kwargs, compute_v1.TargetPoolsClient(**client_kwargs).insert_unary(
        project=PROJECT, region=REGION, target_pool_resource=pool))
    rule = compute_v1.ForwardingRule(name="rule", target=f"projects/{PROJECT}/regions/{REGION}/targetPools/pool",
                                     I_p_protocol="TCP", port_range="80")
    wait_region(client_kwargs, compute_v1.ForwardingRulesClient(**client_kwargs).insert_unary(
        project=PROJECT, region=REGION, forwarding_rule_resource=rule))


def health(client_kwargs: dict[str, Any], name: str) -> compute_v1.TargetPoolInstanceHealth:
    ref = compute_v1.InstanceReference(instance=f"{client_kwargs['client_options']['api_endpoint']}/compute/v1/"
                                                f"projects/{PROJECT}/zones/{ZONE}/instances/{name}")
    return compute_v1.TargetPoolsClient(**client_kwargs).get_health(
        project=PROJECT, region=REGION, target_pool="pool", instance_reference_resource=ref)


@pytest.mark.parametrize("check", [None, (80, "/")])
def test_get_health_without_the_agent_check_is_running(emulator: ComputeEmulator, client_kwargs: dict[str, Any],
                                                      check: tuple[int, str] | None) -> None:
    seed(emulator, ["a", "b"])
    _pool(emulator, client_kwargs, ["a", "b"], check)
    emulator.state.stop_instance(Key(PROJECT, f"zones/{ZONE}", "instances", "b"))
    answer = health(client_kwargs, "a")
    assert answer.kind == "compute#targetPoolInstanceHealth"
    [status] = answer.health_status
    rule_ip = compute_v1.ForwardingRulesClient(**client_kwargs).get(project=PROJECT, region=REGION,
                                                                    forwarding_rule="rule").I_p_address
    assert (status.health_state, status.ip_address) == ("HEALTHY", rule_ip)
    assert status.instance.endswith(f"/zones/{ZONE}/instances/a")
    assert [s.health_state for s in health(client_kwargs, "b").health_status] == ["UNHEALTHY"]


def test_get_health_with_the_agent_check_needs_a_ready_pod(emulator: ComputeEmulator,
                                                          client_kwargs: dict[str, Any]) -> None:
    seed(emulator, ["a", "c"])
    _pool(emulator, client_kwargs, ["a"], (10256, "/healthz"))
    assert [s.health_state for s in health(client_kwargs, "a").health_status] == ["UNHEALTHY"]  # no agent
    with pytest.raises(gexc.BadRequest):  # not a member
        health(client_kwargs, "c")
