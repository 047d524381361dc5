"""The gce provider's load balancers against the emulator, through the real client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from functions.cloudprovider import InvalidRequestError, NotFoundError, PermanentError
from tests.compute.support import (
    OWNER,
    PROJECT,
    REGION,
    ZONE,
    admin,
    names_by_kind,
    nothing_left,
    one_of_each,
    seed,
)

LB = "fc-web"  # what cluster "fc" calls the resources of load balancer "web"


def pool_members(emulator: ComputeEmulator) -> list[str]:
    pools = emulator.state.dump()["resources"]["targetPools"]
    return sorted(link.rsplit("/", 1)[-1] for link in pools[0]["instances"]) if pools else []


def test_create_update_delete_leaves_nothing(emulator: ComputeEmulator, cloud: Any) -> None:
    seed(emulator, ["vm-1", "vm-2", "vm-3"])
    assert cloud.get_load_balancer("web", REGION) is None

    ip = cloud.ensure_load_balancer("web", REGION, [80, 443], ["vm-1", "vm-2"], owner=OWNER)
    assert ip.startswith("203.0.113.")
    assert one_of_each(emulator, LB)
    assert cloud.get_load_balancer("web", REGION) == ip
    state = emulator.state.dump()["resources"]
    rule = state["forwardingRules"][0]
    firewall = next(f for f in state["firewalls"] if f["name"] == LB)
    assert (rule["IPAddress"], rule["portRange"], rule["IPProtocol"]) == (ip, "80-443", "TCP")
    assert rule["labels"] == {"firecontrol-cluster": "fc"} and '"firecontrol.loadBalancer": "web"' in rule["description"]
    assert firewall["allowed"] == [{"IPProtocol": "tcp", "ports": ["80", "443"]}]
    assert firewall["sourceRanges"] == ["0.0.0.0/0"] and firewall["targetTags"] == ["fc"]
    assert firewall["destinationRanges"] == [f"{ip}/32"]
    assert state["targetPools"][0]["healthChecks"][0].endswith("/global/httpHealthChecks/fc-web")
    assert pool_members(emulator) == ["vm-1", "vm-2"]

    cloud.update_hosts("web", REGION, ["vm-2", "vm-3"])  # one added, one removed
    assert pool_members(emulator) == ["vm-2", "vm-3"]

    cloud.ensure_load_balancer_deleted("web", REGION)
    assert nothing_left(emulator)
    assert cloud.get_load_balancer("web", REGION) is None
    emulator.faults.reset_counts()
    cloud.ensure_load_balancer_deleted("web", REGION)  # nothing there: quiet
    assert sum(emulator.requests().values()) == 6  # six 404s (five kinds, two firewalls), no waits


def test_second_ensure_reads_and_changes_nothing(emulator: ComputeEmulator, cloud: Any) -> None:
    seed(emulator, ["vm-1"])
    ip = cloud.ensure_load_balancer("web", REGION, [80], ["vm-1"], owner=OWNER)
    emulator.faults.reset_counts()
    assert cloud.ensure_load_balancer("web", REGION, [80], ["vm-1"], owner=OWNER) == ip
    assert all(method.endswith(".get") for method in emulator.requests())
    assert one_of_each(emulator, LB)


def test_ports_change_keeps_the_ip(emulator: ComputeEmulator, cloud: Any) -> None:
    ip = cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER)
    assert cloud.ensure_load_balancer("web", REGION, [8080, 8443], [], protocol="UDP", owner=OWNER) == ip
    state = emulator.state.dump()["resources"]
    rule = state["forwardingRules"][0]
    assert (rule["IPAddress"], rule["portRange"], rule["IPProtocol"]) == (ip, "8080-8443", "UDP")
    firewalls = {f["name"]: f for f in state["firewalls"]}
    assert firewalls[LB]["allowed"] == [{"IPProtocol": "udp", "ports": ["8080", "8443"]}]
    # The health check is the agent's, on every VM the same: the ports do not move it.
    assert firewalls[f"{LB}-hc"]["allowed"] == [{"IPProtocol": "tcp", "ports": ["10256"]}]
    assert (state["httpHealthChecks"][0]["port"], state["httpHealthChecks"][0]["requestPath"]) == (10256, "/healthz")
    assert one_of_each(emulator, LB)


def test_user_reserved_address_is_used_and_never_released(emulator: ComputeEmulator, cloud: Any, client_kwargs: dict[str, Any]) -> None:
    from google.cloud import compute_v1

    addresses = compute_v1.AddressesClient(**client_kwargs)
    op = addresses.insert_unary(project=PROJECT, region=REGION, address_resource=compute_v1.Address(name="mine", address="203.0.113.77"))
    compute_v1.RegionOperationsClient(**client_kwargs).wait(project=PROJECT, region=REGION, operation=op.name)

    first = cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER)  # a reserved address of ours first
    assert first != "203.0.113.77"
    assert cloud.ensure_load_balancer("web", REGION, [80], [], load_balancer_ip="203.0.113.77", owner=OWNER) == "203.0.113.77"
    assert sorted(names_by_kind(emulator)["addresses"]) == ["mine"]  # ours released once unused
    cloud.ensure_load_balancer_deleted("web", REGION)
    left = emulator.state.dump()["resources"]
    assert [(a["name"], a["address"], a["status"]) for a in left["addresses"]] == [("mine", "203.0.113.77", "RESERVED")]
    assert all(not left[kind] for kind in ("forwardingRules", "targetPools", "firewalls", "httpHealthChecks"))


def test_pinning_the_ip_we_reserved_keeps_it(emulator: ComputeEmulator, cloud: Any) -> None:
    """A user copies the service's IP into spec.loadBalancerIP: that address is in use
    and stays; it goes with the load balancer."""
    ip = cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER)
    for _ in range(2):
        assert cloud.ensure_load_balancer("web", REGION, [80], [], load_balancer_ip=ip, owner=OWNER) == ip
    [address] = emulator.state.dump()["resources"]["addresses"]
    assert address["address"] == ip and address["status"] == "IN_USE"
    cloud.ensure_load_balancer_deleted("web", REGION)
    assert nothing_left(emulator)


def test_more_than_a_thousand_hosts_go_in_chunks(emulator: ComputeEmulator, cloud: Any) -> None:
    hosts = [f"vm-{i:04d}" for i in range(2300)]
    seed(emulator, hosts)
    cloud.ensure_load_balancer("web", REGION, [80], hosts, owner=OWNER)
    calls = emulator.requests()
    # 200 in the insert, then 2,100 more in chunks of at most 1,000.
    assert calls["targetPools.insert"] == 1 and calls["targetPools.addInstance"] == 3
    assert pool_members(emulator) == hosts
    emulator.faults.reset_counts()
    cloud.update_hosts("web", REGION, hosts[:500])
    assert emulator.requests().get("targetPools.removeInstance") == 2  # 1,800 removed: 1,000 + 800
    assert "targetPools.addInstance" not in emulator.requests()
    assert pool_members(emulator) == hosts[:500]


def test_missing_instances_are_skipped(emulator: ComputeEmulator, cloud: Any) -> None:
    seed(emulator, ["vm-1", "vm-2", "vm-3"])
    cloud.ensure_load_balancer("web", REGION, [80], ["vm-1", "never-existed"], owner=OWNER)
    assert pool_members(emulator) == ["vm-1"]
    admin(emulator, "DELETE", f"/emulator/projects/{PROJECT}/zones/{ZONE}/instances/vm-3")  # behind our back
    cloud.update_hosts("web", REGION, ["vm-1", "vm-2", "vm-3", f"zones/{ZONE}/instances/vm-9"])
    assert pool_members(emulator) == ["vm-1", "vm-2"]


def test_a_member_deleted_behind_our_back_is_removed(emulator: ComputeEmulator, cloud: Any) -> None:
    seed(emulator, ["vm-1", "vm-2"])
    cloud.ensure_load_balancer("web", REGION, [80], ["vm-1", "vm-2"], owner=OWNER)
    admin(emulator, "DELETE", f"/emulator/projects/{PROJECT}/zones/{ZONE}/instances/vm-2")
    assert pool_members(emulator) == ["vm-1", "vm-2"]  # a deleted VM stays a member until removed
    cloud.update_hosts("web", REGION, ["vm-1"])
    assert pool_members(emulator) == ["vm-1"]


def test_update_hosts_of_missing_load_balancer_is_not_found(emulator: ComputeEmulator, cloud: Any) -> None:
    with pytest.raises(NotFoundError):
        cloud.update_hosts("nope", REGION, ["vm-1"])


@pytest.mark.parametrize(
    ("name", "ports", "protocol", "ip"),
    [
        ("Web_Site", [80], "TCP", None),
        ("-web", [80], "TCP", None),
        ("", [80], "TCP", None),
        ("web", [], "TCP", None),
        ("web", [0], "TCP", None),
        ("web", [70000], "TCP", None),
        ("web", [80], "ICMP", None),
        ("web", [80], "TCP", "not-an-ip"),
    ],
)
def test_invalid_requests_fail_before_any_call(emulator: ComputeEmulator, cloud: Any, name: str,
                                                 ports: list[int], protocol: str, ip: str | None) -> None:
    with pytest.raises(InvalidRequestError) as error:
        cloud.ensure_load_balancer(name, REGION, ports, [], protocol=protocol, load_balancer_ip=ip, owner=OWNER)
    assert isinstance(error.value, PermanentError) and str(error.value)
    assert emulator.requests() == {}
    assert nothing_left(emulator)


def test_compute_400_becomes_invalid_request_and_delete_cleans_up(emulator: ComputeEmulator, cloud: Any) -> None:
    # 203.0.113.200 is a well-formed IP but not reserved: Compute Engine refuses the rule.
    with pytest.raises(InvalidRequestError) as error:
        cloud.ensure_load_balancer("web", REGION, [80], [], load_balancer_ip="203.0.113.200", owner=OWNER)
    assert error.value.status == 400 and "not reserved" in str(error.value)
    assert names_by_kind(emulator)["forwardingRules"] == []
    cloud.ensure_load_balancer_deleted("web", REGION)
    assert nothing_left(emulator)


def test_long_names_stay_valid_and_distinct(emulator: ComputeEmulator, cloud: Any) -> None:
    long_a, long_b = "a" * 70 + "-one", "a" * 70 + "-two"
    ip_a = cloud.ensure_load_balancer(long_a, REGION, [80], [], owner=OWNER)
    ip_b = cloud.ensure_load_balancer(long_b, REGION, [80], [], owner=OWNER)
    assert ip_a != ip_b
    rules = names_by_kind(emulator)["forwardingRules"]
    assert len(rules) == 2 and all(len(n) <= 63 and n.startswith("fc-") for n in rules)


def test_instances_and_zones(emulator: ComputeEmulator, make_cloud: Callable[..., Any]) -> None:
    seed(emulator, ["mine-1", "mine-2"], {"firecontrol-cluster": "fc"})
    seed(emulator, ["foreign"], {"firecontrol-cluster": "other"})
    cloud = make_cloud()
    assert [i.name for i in cloud.list_instances()] == ["mine-1", "mine-2"]
    info = cloud.get_instance("mine-1")
    assert info.status == "RUNNING" and info.internal_ip and info.internal_ip.startswith("10.")
    assert info.zone == ZONE and info.labels == {"firecontrol-cluster": "fc"}
    with pytest.raises(NotFoundError):
        cloud.get_instance("gone")
    zone = cloud.get_zone()
    assert (zone.zone, zone.region) == (ZONE, REGION)


def test_list_instances_pages_through_every_vm(emulator: ComputeEmulator, make_cloud: Callable[..., Any]) -> None:
    """Resync's one listing: 1,100 of our VMs come back in three pages of at most 500."""
    mine = [f"mine-{i:04d}" for i in range(1100)]
    seed(emulator, mine, {"firecontrol-cluster": "fc"})
    seed(emulator, ["foreign"], {"firecontrol-cluster": "other"})
    emulator.faults.reset_counts()
    assert sorted(i.name for i in make_cloud().list_instances()) == mine
    assert emulator.requests() == {"instances.aggregatedList": 3}
