"""The emulator's admin surface: faults, counters, delays, state, and changes behind our back."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from emulator.compute import ComputeEmulator
from tests.compute.support import PROJECT, ZONE, admin, seed


def get(kw: dict[str, Any], name: str = "vm") -> compute_v1.Instance:
    return compute_v1.InstancesClient(**kw).get(project=PROJECT, zone=ZONE, instance=name, retry=None)


def test_fault_by_count_fails_then_clears(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    seed(emulator, ["vm"])
    admin(emulator, "POST", "/emulator/faults", {"method": "GET", "path": "/instances/vm$", "status": 503, "count": 2})
    for _ in range(2):
        with pytest.raises(gexc.ServiceUnavailable):
            get(client_kwargs)
    assert get(client_kwargs).name == "vm"
    assert admin(emulator, "GET", "/emulator/faults")["faults"][0]["fired"] == 2
    counts = admin(emulator, "GET", "/emulator/requests")
    assert counts["requests"] == {"instances.get": 3} and counts["injected"] == {"instances.get": 2}


def test_fault_kinds_map_to_client_exceptions(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    seed(emulator, ["vm"])
    emulator.inject(path="/instances/vm$", status=403, count=1)
    emulator.inject(path="/instances/vm$", status=429, count=1)
    with pytest.raises(gexc.Forbidden) as quota:
        get(client_kwargs)
    assert quota.value.errors[0]["reason"] == "quotaExceeded"
    with pytest.raises(gexc.TooManyRequests):
        get(client_kwargs)
    emulator.inject(path="/instances/vm$", status=None, latency=0.2, count=1)
    started = time.monotonic()
    assert get(client_kwargs).name == "vm"
    assert time.monotonic() - started >= 0.2


def test_fault_rate_is_seeded_and_repeatable(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    seed(emulator, ["vm"])

    def outcomes() -> list[bool]:
        results = []
        for _ in range(40):
            try:
                get(client_kwargs)
                results.append(True)
            except gexc.ServiceUnavailable:
                results.append(False)
        return results

    admin(emulator, "POST", "/emulator/config", {"seed": 7})
    emulator.inject(path="/instances/", status=503, rate=0.3)
    first = outcomes()
    admin(emulator, "POST", "/emulator/config", {"seed": 7})
    assert outcomes() == first
    assert 4 <= first.count(False) <= 20  # about 30% of 40


def test_fault_after_applies_the_change_and_loses_the_answer(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    emulator.inject(method="POST", path="/global/firewalls$", status=503, after=True, count=1)
    firewalls = compute_v1.FirewallsClient(**client_kwargs)
    body = compute_v1.Firewall(name="fw", allowed=[compute_v1.Allowed(I_p_protocol="tcp")])
    with pytest.raises(gexc.ServiceUnavailable):
        firewalls.insert_unary(project=PROJECT, firewall_resource=body)
    with pytest.raises(gexc.Conflict):  # the insert did happen
        firewalls.insert_unary(project=PROJECT, firewall_resource=body)


def test_instances_stopped_or_deleted_behind_our_back(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    seed(emulator, ["vm", "other"])
    assert get(client_kwargs).status == "RUNNING"
    stopped = admin(emulator, "POST", f"/emulator/projects/{PROJECT}/zones/{ZONE}/instances/vm/stop")
    assert stopped["status"] == "TERMINATED" and get(client_kwargs).status == "TERMINATED"
    admin(emulator, "DELETE", f"/emulator/projects/{PROJECT}/zones/{ZONE}/instances/other")
    with pytest.raises(gexc.NotFound):
        get(client_kwargs, "other")


def test_state_dump_reset_and_config(emulator: ComputeEmulator) -> None:
    admin(emulator, "POST", "/emulator/instances", {"project": PROJECT, "zone": ZONE, "names": ["a", "b"], "labels": {"k": "v"}})
    state = admin(emulator, "GET", "/emulator/state")
    assert [i["name"] for i in state["resources"]["instances"]] == ["a", "b"]
    assert state["resources"]["instances"][0]["kind"] == "compute#instance"
    timing = admin(emulator, "POST", "/emulator/config", {"operation_delay": 0.5})
    assert timing["operation_delay"] == 0.5 and emulator.state.timing.operation_delay == 0.5
    admin(emulator, "POST", "/emulator/reset")
    assert admin(emulator, "GET", "/emulator/state")["resources"]["instances"] == []
    with pytest.raises(urllib.error.HTTPError) as unknown:
        admin(emulator, "GET", "/emulator/nothing")
    assert unknown.value.code == 404


def test_runs_standalone_and_prints_its_url() -> None:
    process = subprocess.Popen([sys.executable, "-m", "emulator.compute", "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split()[4]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/compute/v1/projects/p/global/firewalls", timeout=5) as response:
            assert response.status == 200 and b"compute#firewallList" in response.read()
    finally:
        process.terminate()
        process.wait(timeout=5)
