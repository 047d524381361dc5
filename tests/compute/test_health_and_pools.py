"""Load balancers check the pod agent's health endpoint, and a VM leaves every pool it is in.

Through the real client on the Compute emulator.
"""

from __future__ import annotations

from typing import Any

from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from emulator.compute import ComputeEmulator
from functions.cloudprovider import Owner
from tests.compute.support import OWNER, PROJECT, REGION, ZONE, one_of_each, seed

LB = "fc-web"


def _resources(emulator: ComputeEmulator) -> dict[str, Any]:
    resources: dict[str, Any] = emulator.state.dump()["resources"]
    return resources


def _firewalls(emulator: ComputeEmulator) -> dict[str, Any]:
    return {f["name"]: f for f in _resources(emulator)["firewalls"]}


def test_health_check_is_the_agents_healthz_on_10256(emulator: ComputeEmulator, cloud: Any) -> None:
    cloud.ensure_load_balancer("web", REGION, [80, 443], [], owner=OWNER)
    [check] = _resources(emulator)["httpHealthChecks"]
    assert (check["port"], check["requestPath"]) == (10256, "/healthz")
    checker = _firewalls(emulator)[f"{LB}-hc"]
    assert checker["allowed"] == [{"IPProtocol": "tcp", "ports": ["10256"]}]
    assert sorted(checker["sourceRanges"]) == ["209.85.152.0/22", "209.85.204.0/22", "35.191.0.0/16"]
    # The service's own firewall still admits only the service's ports.
    assert _firewalls(emulator)[LB]["allowed"] == [{"IPProtocol": "tcp", "ports": ["80", "443"]}]


def test_udp_service_is_checked_by_readiness_not_its_port(emulator: ComputeEmulator, cloud: Any) -> None:
    cloud.ensure_load_balancer("web", REGION, [53], [], protocol="UDP", owner=OWNER)
    [check] = _resources(emulator)["httpHealthChecks"]
    assert (check["port"], check["requestPath"]) == (10256, "/healthz")
    assert _firewalls(emulator)[f"{LB}-hc"]["allowed"] == [{"IPProtocol": "tcp", "ports": ["10256"]}]


def test_an_older_get_slash_health_check_is_upgraded_in_place(emulator: ComputeEmulator, cloud: Any,
                                                              client_kwargs: dict[str, Any]) -> None:
    """A load balancer an older version made (GET / on the first service port, its -hc
    firewall on that port) is patched, not recreated; the pass after it only reads."""
    ip = cloud.ensure_load_balancer("web", REGION, [8080], [], owner=OWNER)
    # Make it look as the older version left it.
    cloud.api.mutate("old shape", cloud.api.health_checks.patch_unary, project=PROJECT, http_health_check=LB,
                     http_health_check_resource={"port": 8080, "requestPath": "/"})
    firewalls = compute_v1.FirewallsClient(**client_kwargs)
    op = firewalls.patch_unary(project=PROJECT, firewall=f"{LB}-hc", firewall_resource=compute_v1.Firewall(
        allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["8080"])]))
    compute_v1.GlobalOperationsClient(credentials=AnonymousCredentials(), client_options=client_kwargs["client_options"],
                                      transport="rest").wait(project=PROJECT, operation=op.name)
    [check] = _resources(emulator)["httpHealthChecks"]
    assert (check["port"], check["requestPath"]) == (8080, "/")
    check_id = check["id"]

    emulator.faults.reset_counts()
    assert cloud.ensure_load_balancer("web", REGION, [8080], [], owner=OWNER) == ip
    calls = emulator.requests()
    assert calls.get("httpHealthChecks.patch") == 1 and calls.get("firewalls.patch") == 1
    assert not any(m.endswith((".insert", ".delete")) for m in calls), calls
    [check] = _resources(emulator)["httpHealthChecks"]
    assert (check["port"], check["requestPath"], check["id"]) == (10256, "/healthz", check_id)
    assert _firewalls(emulator)[f"{LB}-hc"]["allowed"] == [{"IPProtocol": "tcp", "ports": ["10256"]}]
    assert one_of_each(emulator, LB)

    emulator.faults.reset_counts()
    cloud.ensure_load_balancer("web", REGION, [8080], [], owner=OWNER)
    assert all(method.endswith(".get") for method in emulator.requests()), emulator.requests()


def _members(emulator: ComputeEmulator) -> dict[str, list[str]]:
    return {p["name"]: sorted(link.rsplit("/", 1)[-1] for link in p.get("instances", []))
            for p in _resources(emulator)["targetPools"]}


def test_remove_instance_leaves_two_pools_and_no_other(emulator: ComputeEmulator, cloud: Any) -> None:
    seed(emulator, ["vm-1", "vm-2"])
    other = Owner(cluster="fc", namespace="default", kind="Service", name="api", uid="uid-api")
    third = Owner(cluster="fc", namespace="default", kind="Service", name="db", uid="uid-db")
    cloud.ensure_load_balancer("web", REGION, [80], ["vm-1", "vm-2"], owner=OWNER)
    cloud.ensure_load_balancer("api", REGION, [81], ["vm-1"], owner=other)
    cloud.ensure_load_balancer("db", REGION, [82], ["vm-2"], owner=third)

    emulator.faults.reset_counts()
    left = cloud.remove_instance_from_load_balancers("vm-1", ZONE, REGION)
    assert sorted(left) == ["fc-api", "fc-web"]
    assert _members(emulator) == {"fc-web": ["vm-2"], "fc-api": [], "fc-db": ["vm-2"]}
    assert emulator.requests().get("targetPools.removeInstance") == 2

    emulator.faults.reset_counts()
    assert cloud.remove_instance_from_load_balancers("vm-1", None, REGION) == []  # nothing left to leave
    assert "targetPools.removeInstance" not in emulator.requests()
    assert _members(emulator)["fc-web"] == ["vm-2"]


def test_remove_instance_leaves_other_clusters_pools_alone(emulator: ComputeEmulator, cloud: Any,
                                                           make_cloud: Any, config: Any) -> None:
    from dataclasses import replace

    from functions.cloudprovider.gce import GceCloud

    seed(emulator, ["vm-1"])
    cloud.ensure_load_balancer("web", REGION, [80], ["vm-1"], owner=OWNER)
    theirs = GceCloud(replace(config, cluster="other"))
    theirs.ensure_load_balancer("web", REGION, [80], ["vm-1"],
                                owner=Owner(cluster="other", namespace="default", kind="Service", name="web", uid="u2"))
    assert cloud.remove_instance_from_load_balancers("vm-1", ZONE, REGION) == ["fc-web"]
    assert _members(emulator) == {"fc-web": [], "other-web": ["vm-1"]}
