"""Constants and small helpers shared by the compute tests."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from emulator.compute import ComputeEmulator, Timing
from functions.cloudprovider import Owner

PROJECT = "test-project"
REGION = "us-central1"
ZONE = "us-central1-a"
TIMING = Timing(operation_delay=0.01, provisioning_delay=0.03, staging_delay=0.03, wait_timeout=1.0)
FAST_RETRIES = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.1)
LB_KINDS = ("addresses", "firewalls", "httpHealthChecks", "targetPools", "forwardingRules")
# Whose the compute tests' load balancers are (written in every description).
OWNER = Owner(cluster="fc", namespace="default", kind="Service", name="web", uid="uid-web")


def names_by_kind(emulator: ComputeEmulator) -> dict[str, list[str]]:
    """Every stored resource's name, by collection (instances left out)."""
    dump = emulator.state.dump()["resources"]
    return {kind: [r["name"] for r in items] for kind, items in dump.items() if kind != "instances"}


def one_of_each(emulator: ComputeEmulator, name: str) -> bool:
    """Exactly one load balancer's resources: one of each kind, and its health-check firewall."""
    want = {kind: [name] for kind in LB_KINDS} | {"firewalls": sorted([name, f"{name}-hc"])}
    return {kind: sorted(found) for kind, found in names_by_kind(emulator).items()} == want


def nothing_left(emulator: ComputeEmulator) -> bool:
    return all(not names for names in names_by_kind(emulator).values())


def seed(emulator: ComputeEmulator, names: list[str], labels: dict[str, str] | None = None) -> None:
    emulator.state.seed_instances(PROJECT, ZONE, names, labels or {})


def admin(emulator: ComputeEmulator, method: str, path: str, body: Any = None) -> Any:
    """Call an admin route over HTTP, as a test or benchmark in another process would."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(emulator.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"{}")
