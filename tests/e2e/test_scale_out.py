"""Fast scale-out through the real path: 50 pods Running within a VM boot and 5 s.

``python main.py up`` as a user runs it, with the simulated agents reporting to
``pod_status`` (their clock 20 times fast). The Compute emulator takes D seconds from
insert to RUNNING; D is set through its configuration route before each case, so one
stack serves D = 3 and D = 10. One pod in a namespace of its own warms the functions
first: a cold start is not scale-out (the README has its own figure). Then a controller
of 50 is written and its pods are sampled until every one is Running and Ready. With
room for 10 VMs left in the region's CPU quota, 50 asked make a handful of refused
inserts, not 40.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.stack import Json, Stack, running_stack

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # a time bound: alone, after the rest
PODS = 50
SLACK = 5.0  # the bound: all Running within D + 5 s
VCPUS = 2  # e2-small, the default machine type
QUOTA_VMS = 10
REFUSED_AT_MOST = 6


def controller(replicas: int) -> Json:
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"app": "web"},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}


def running_and_ready(pod: Json) -> bool:
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return status.get("phase") == "Running" and ready


def boot_in(stack: Stack, seconds: float) -> None:
    """Every VM inserted from now on takes ``seconds`` to be RUNNING (half provisioning, half staging)."""
    stack.compute("POST", "/emulator/config", {"provisioning_delay": seconds / 2, "staging_delay": seconds / 2})


def scale_out(stack: Stack, namespace: str, n: int, timeout: float) -> float | None:
    """Seconds from writing a controller of ``n`` until all its pods are Running and Ready."""
    start = time.monotonic()
    stack.put(namespace, "replicationControllers", controller(n))
    while time.monotonic() - start < timeout:
        pods = stack.pods(namespace)
        if len(pods) == n and all(map(running_and_ready, pods)):
            return time.monotonic() - start
        time.sleep(0.1)
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Heartbeats every 600 s (30 s here): the pods of one case do not load the next.
    settings = {"FIRECONTROL_AGENT_TIME_SCALE": "20", "FIRECONTROL_STATUS_WRITE_LIMIT": "200",
                "FIRECONTROL_AGENT_HEARTBEAT": "600"}
    with running_stack(tmp_path_factory.mktemp("scale-out"), settings) as running:
        assert scale_out(running, "warm-up", 1, timeout=60) is not None, "one pod never ran"
        yield running


@pytest.mark.parametrize("boot", [3.0, 10.0], ids=lambda d: f"D={d:g}s")
def test_fifty_pods_are_running_within_one_boot_and_five_seconds(stack: Stack, boot: float) -> None:
    boot_in(stack, boot)
    stack.compute("DELETE", "/emulator/requests")
    seconds = scale_out(stack, f"fifty-{boot:g}", PODS, timeout=boot + 60)
    calls = stack.compute("GET", "/emulator/requests")
    print(f"D = {boot:g} s: 50 Running in {seconds} s; Compute calls {calls['requests']}")
    assert seconds is not None and seconds <= boot + SLACK, seconds
    # An insert, its operation awaited once, one read of the VM (and one more when its agent
    # reports first); no VM is polled while it boots.
    requests: dict[str, Any] = calls["requests"]
    assert requests.get("instances.insert") == PODS, requests
    assert requests.get("zoneOperations.wait", 0) <= PODS + 5, requests
    assert requests.get("instances.get", 0) <= 2 * PODS + 5, requests


def test_a_quota_of_ten_vms_costs_a_handful_of_refused_inserts(stack: Stack) -> None:
    boot_in(stack, 3.0)
    usage = stack.compute("GET", "/emulator/quotas")["usage"].get(stack.project, {})
    stack.compute("POST", "/emulator/quotas", {"cpus": sum(usage.values()) + QUOTA_VMS * VCPUS})
    stack.compute("DELETE", "/emulator/requests")
    stack.put("quota", "replicationControllers", controller(PODS))
    most, start = 0, time.monotonic()
    while time.monotonic() - start < 12:  # the quota is hit within 3 s; then the first back-off (10 s) retries once
        most = max(most, len(stack.pods("quota")))
        time.sleep(0.5)
    answer = stack.compute("GET", "/emulator/requests")
    refused = answer["refused"].get("instances.insert quotaExceeded", 0)
    pods = stack.pods("quota")
    placed = [p for p in pods if (p.get("spec") or {}).get("nodeName")]
    waiting = [p for p in pods if not (p.get("spec") or {}).get("nodeName")
               and not (p.get("metadata") or {}).get("deletionTimestamp")]
    conditions = ((stack.get("quota", "replicationControllers", "web") or {}).get("status") or {}).get("conditions") or []
    failure = next((c for c in conditions if c.get("type") == "ReplicaFailure"), {})
    print(f"quota of {QUOTA_VMS} VMs: {refused} refused inserts, {len(placed)} placed, at most {most} pods; {failure}")
    assert len(placed) == QUOTA_VMS
    assert 1 <= refused <= REFUSED_AT_MOST, answer
    assert failure.get("status") == "True" and failure.get("reason") == "FailedCreate", conditions
    assert "CPUS" in failure.get("message", ""), failure
    # One pod goes on asking, with its back-off; the others do not pile up.
    assert len(waiting) <= 1, [p["metadata"]["name"] for p in waiting]
    assert most <= QUOTA_VMS + 16, most
