"""The emulator through the real google-cloud-compute REST client: shapes, errors, operations."""

from __future__ import annotations

import ipaddress
import time
from datetime import datetime
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from emulator.compute import ComputeEmulator
from tests.compute.support import PROJECT, REGION, ZONE, seed

DONE = compute_v1.Operation.Status.DONE


def wait_zone(kw: dict[str, Any], op: compute_v1.Operation) -> compute_v1.Operation:
    ops = compute_v1.ZoneOperationsClient(**kw)
    while op.status != DONE:
        op = ops.wait(project=PROJECT, zone=ZONE, operation=op.name)
    return op


def wait_region(kw: dict[str, Any], op: compute_v1.Operation) -> compute_v1.Operation:
    ops = compute_v1.RegionOperationsClient(**kw)
    while op.status != DONE:
        op = ops.wait(project=PROJECT, region=REGION, operation=op.name)
    return op


def wait_global(kw: dict[str, Any], op: compute_v1.Operation) -> compute_v1.Operation:
    ops = compute_v1.GlobalOperationsClient(**kw)
    while op.status != DONE:
        op = ops.wait(project=PROJECT, operation=op.name)
    return op


def reason(error: gexc.GoogleAPICallError) -> str:
    """Compute Engine's ``errors[0].reason``, as the client parsed it from the body."""
    return str(error.errors[0]["reason"])


def new_instance(name: str, **labels: str) -> compute_v1.Instance:
    """The least Compute Engine accepts: a machine type of the zone and a boot disk (and a NAT IP here)."""
    nic = compute_v1.NetworkInterface(access_configs=[compute_v1.AccessConfig(name="External NAT")])
    disk = compute_v1.AttachedDisk(boot=True, auto_delete=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
        source_image="projects/debian-cloud/global/images/family/debian-12"))
    return compute_v1.Instance(name=name, labels=labels, network_interfaces=[nic], disks=[disk],
                               machine_type=f"zones/{ZONE}/machineTypes/e2-small")


def test_instance_lifecycle_through_the_real_client(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    # Windows wide enough that a slow get on a loaded 2-core machine cannot skip STAGING.
    emulator.configure({"provisioning_delay": 0.5, "staging_delay": 0.5})
    instances = compute_v1.InstancesClient(**client_kwargs)
    op = instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=new_instance("web-1", app="web"))
    assert op.status == compute_v1.Operation.Status.PENDING
    assert op.operation_type == "insert" and op.target_link.endswith(f"/zones/{ZONE}/instances/web-1")
    with pytest.raises(gexc.NotFound):  # not there until the operation is DONE
        instances.get(project=PROJECT, zone=ZONE, instance="web-1")

    assert wait_zone(client_kwargs, op).status == DONE
    got = instances.get(project=PROJECT, zone=ZONE, instance="web-1")
    assert got.status == "PROVISIONING"
    assert got.self_link == f"{emulator.url}/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/web-1"
    assert got.id > 0 and datetime.fromisoformat(got.creation_timestamp).year >= 2024
    assert ipaddress.ip_address(got.network_interfaces[0].network_i_p) in ipaddress.ip_network("10.128.0.0/9")
    assert ipaddress.ip_address(got.network_interfaces[0].access_configs[0].nat_i_p) in ipaddress.ip_network("198.18.0.0/15")
    assert dict(got.labels) == {"app": "web"}
    seen = {got.status}
    deadline = time.monotonic() + 5
    while got.status != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.01)
        got = instances.get(project=PROJECT, zone=ZONE, instance="web-1")
        seen.add(got.status)
    assert seen == {"PROVISIONING", "STAGING", "RUNNING"}

    wait_zone(client_kwargs, instances.delete_unary(project=PROJECT, zone=ZONE, instance="web-1"))
    with pytest.raises(gexc.NotFound) as missing:
        instances.get(project=PROJECT, zone=ZONE, instance="web-1")
    assert missing.value.code == 404 and reason(missing.value) == "notFound"


def test_insert_errors_have_compute_shapes(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    instances = compute_v1.InstancesClient(**client_kwargs)
    with pytest.raises(gexc.BadRequest) as bad:
        instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=new_instance("Bad_Name"))
    assert reason(bad.value) == "invalid" and "resource.name" in bad.value.message
    with pytest.raises(gexc.BadRequest):
        instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=new_instance("x" * 64))
    instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=new_instance("dup"))
    with pytest.raises(gexc.Conflict) as conflict:  # even while the first insert is pending
        instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=new_instance("dup"))
    assert reason(conflict.value) == "alreadyExists"
    assert emulator.requests()["instances.insert"] == 4


def test_list_pages_and_filters_on_labels(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    seed(emulator, [f"a-{i}" for i in range(7)], {"role": "web"})
    seed(emulator, ["b-0", "b-1"], {"role": "db"})
    instances = compute_v1.InstancesClient(**client_kwargs)

    paged = instances.list(request=compute_v1.ListInstancesRequest(project=PROJECT, zone=ZONE, max_results=3))
    assert [i.name for i in paged] == [f"a-{i}" for i in range(7)] + ["b-0", "b-1"]
    assert emulator.requests()["instances.list"] == 3  # 9 items, 3 a page

    def names(expression: str) -> list[str]:
        request = compute_v1.ListInstancesRequest(project=PROJECT, zone=ZONE, filter=expression)
        return [i.name for i in instances.list(request=request)]

    assert names('labels.role = "db"') == ["b-0", "b-1"]
    assert names("labels.role eq db") == ["b-0", "b-1"]
    assert names("labels.role eq w.*") == [f"a-{i}" for i in range(7)]
    assert names('labels.role != "web"') == ["b-0", "b-1"]
    assert names('(labels.role = "web") (name = "a-3")') == ["a-3"]
    with pytest.raises(gexc.BadRequest):
        names("labels.role >>> db")

    aggregated = instances.aggregated_list(
        request=compute_v1.AggregatedListInstancesRequest(project=PROJECT, filter='labels.role = "db"', max_results=1))
    assert [(scope, [i.name for i in items.instances]) for scope, items in aggregated] == [
        (f"zones/{ZONE}", ["b-0"]), (f"zones/{ZONE}", ["b-1"])]


def _pool_setup(kw: dict[str, Any]) -> tuple[compute_v1.TargetPoolsClient, str]:
    checks_url = f"{kw['client_options']['api_endpoint']}/compute/v1/projects/{PROJECT}/global/httpHealthChecks"
    import requests

    response = requests.post(checks_url, json={"name": "hc"}, timeout=5)
    wait_global(kw, compute_v1.Operation.from_json(response.text, ignore_unknown_fields=True))
    pools = compute_v1.TargetPoolsClient(**kw)
    pool = compute_v1.TargetPool(name="pool", health_checks=["global/httpHealthChecks/hc"])
    wait_region(kw, pools.insert_unary(project=PROJECT, region=REGION, target_pool_resource=pool))
    return pools, pools.get(project=PROJECT, region=REGION, target_pool="pool").self_link


def test_target_pool_members_and_resources_in_use(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    seed(emulator, ["vm-1", "vm-2"])
    pools, pool_link = _pool_setup(client_kwargs)
    refs = [compute_v1.InstanceReference(instance=f"zones/{ZONE}/instances/vm-{i}") for i in (1, 2)]
    add = compute_v1.TargetPoolsAddInstanceRequest(instances=refs)
    wait_region(client_kwargs, pools.add_instance_unary(project=PROJECT, region=REGION, target_pool="pool",
                                                        target_pools_add_instance_request_resource=add))
    pool = pools.get(project=PROJECT, region=REGION, target_pool="pool")
    assert [i.rsplit("/", 1)[-1] for i in pool.instances] == ["vm-1", "vm-2"]
    assert pool.health_checks[0].endswith("/global/httpHealthChecks/hc")

    missing = compute_v1.TargetPoolsAddInstanceRequest(instances=[compute_v1.InstanceReference(instance=f"zones/{ZONE}/instances/gone")])
    with pytest.raises(gexc.NotFound):
        pools.add_instance_unary(project=PROJECT, region=REGION, target_pool="pool", target_pools_add_instance_request_resource=missing)
    too_many = compute_v1.TargetPoolsAddInstanceRequest(instances=refs * 501)
    with pytest.raises(gexc.BadRequest):
        pools.add_instance_unary(project=PROJECT, region=REGION, target_pool="pool", target_pools_add_instance_request_resource=too_many)

    remove = compute_v1.TargetPoolsRemoveInstanceRequest(instances=refs[:1])
    wait_region(client_kwargs, pools.remove_instance_unary(project=PROJECT, region=REGION, target_pool="pool",
                                                           target_pools_remove_instance_request_resource=remove))
    assert [i.rsplit("/", 1)[-1] for i in pools.get(project=PROJECT, region=REGION, target_pool="pool").instances] == ["vm-2"]

    rules = compute_v1.ForwardingRulesClient(**client_kwargs)
    rule = compute_v1.ForwardingRule(name="rule", target=pool_link, port_range="80", I_p_protocol="TCP")
    wait_region(client_kwargs, rules.insert_unary(project=PROJECT, region=REGION, forwarding_rule_resource=rule))
    got = rules.get(project=PROJECT, region=REGION, forwarding_rule="rule")
    assert ipaddress.ip_address(got.I_p_address) in ipaddress.ip_network("203.0.113.0/24")  # ephemeral
    assert got.port_range == "80-80" and got.load_balancing_scheme == "EXTERNAL"

    with pytest.raises(gexc.BadRequest) as in_use:
        pools.delete_unary(project=PROJECT, region=REGION, target_pool="pool")
    assert reason(in_use.value) == "resourceInUseByAnotherResource"
    wait_region(client_kwargs, rules.delete_unary(project=PROJECT, region=REGION, forwarding_rule="rule"))
    wait_region(client_kwargs, pools.delete_unary(project=PROJECT, region=REGION, target_pool="pool"))
    assert [r.name for r in pools.list(project=PROJECT, region=REGION)] == []


def test_addresses_forwarding_rule_with_reserved_ip(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    _, pool_link = _pool_setup(client_kwargs)
    addresses = compute_v1.AddressesClient(**client_kwargs)
    wait_region(client_kwargs, addresses.insert_unary(project=PROJECT, region=REGION,
                                                      address_resource=compute_v1.Address(name="ip")))
    address = addresses.get(project=PROJECT, region=REGION, address="ip")
    assert address.status == "RESERVED" and address.address.startswith("203.0.113.")
    rules = compute_v1.ForwardingRulesClient(**client_kwargs)
    rule = compute_v1.ForwardingRule(name="rule", target=pool_link, port_range="80-90", I_p_address=address.address)
    wait_region(client_kwargs, rules.insert_unary(project=PROJECT, region=REGION, forwarding_rule_resource=rule))
    assert rules.get(project=PROJECT, region=REGION, forwarding_rule="rule").I_p_address == address.address
    in_use = addresses.get(project=PROJECT, region=REGION, address="ip")
    assert in_use.status == "IN_USE" and in_use.users[0].endswith("/forwardingRules/rule")
    with pytest.raises(gexc.BadRequest) as refused:
        addresses.delete_unary(project=PROJECT, region=REGION, address="ip")
    assert reason(refused.value) == "resourceInUseByAnotherResource"
    unreserved = compute_v1.ForwardingRule(name="other", target=pool_link, port_range="80", I_p_address="203.0.113.250")
    with pytest.raises(gexc.BadRequest):
        rules.insert_unary(project=PROJECT, region=REGION, forwarding_rule_resource=unreserved)
    assert [a.name for a in addresses.list(project=PROJECT, region=REGION)] == ["ip"]


def test_firewalls_crud_and_patch(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    firewalls = compute_v1.FirewallsClient(**client_kwargs)
    body = compute_v1.Firewall(name="fw", allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["80"])],
                               source_ranges=["0.0.0.0/0"], target_tags=["web"])
    wait_global(client_kwargs, firewalls.insert_unary(project=PROJECT, firewall_resource=body))
    got = firewalls.get(project=PROJECT, firewall="fw")
    assert got.network.endswith("/global/networks/default") and got.direction == "INGRESS" and got.priority == 1000
    patch = compute_v1.Firewall(allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["80", "443"])])
    wait_global(client_kwargs, firewalls.patch_unary(project=PROJECT, firewall="fw", firewall_resource=patch))
    assert list(firewalls.get(project=PROJECT, firewall="fw").allowed[0].ports) == ["80", "443"]
    with pytest.raises(gexc.BadRequest):
        firewalls.insert_unary(project=PROJECT, firewall_resource=compute_v1.Firewall(name="empty"))
    assert [f.name for f in firewalls.list(project=PROJECT)] == ["fw"]
    wait_global(client_kwargs, firewalls.delete_unary(project=PROJECT, firewall="fw"))
    with pytest.raises(gexc.NotFound):
        firewalls.delete_unary(project=PROJECT, firewall="fw")


def test_operations_run_asynchronously(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    emulator.configure({"operation_delay": 0.3})
    firewalls = compute_v1.FirewallsClient(**client_kwargs)
    body = compute_v1.Firewall(name="fw", allowed=[compute_v1.Allowed(I_p_protocol="tcp")])
    op = firewalls.insert_unary(project=PROJECT, firewall_resource=body)
    ops = compute_v1.GlobalOperationsClient(**client_kwargs)
    assert ops.get(project=PROJECT, operation=op.name).status == compute_v1.Operation.Status.PENDING
    time.sleep(0.15)
    assert ops.get(project=PROJECT, operation=op.name).status == compute_v1.Operation.Status.RUNNING
    assert [f.name for f in firewalls.list(project=PROJECT)] == []  # applied only when DONE
    started = time.monotonic()
    done = ops.wait(project=PROJECT, operation=op.name)
    assert done.status == DONE and done.progress == 100 and time.monotonic() - started < 0.3
    assert [f.name for f in firewalls.list(project=PROJECT)] == ["fw"]
    with pytest.raises(gexc.NotFound):
        ops.get(project=PROJECT, operation="operation-none")
