"""Ownership at the provider: names that do not collide, and a resource under our name
that is not this owner's is never reused, repaired or deleted (NameConflictError)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from google.cloud import compute_v1

from emulator.compute import ComputeEmulator
from functions.cloudprovider import InstanceSpec, NameConflictError, Owner
from functions.cloudprovider import names as cloud_names
from functions.controllers.services import load_balancer_name
from functions.vm_spec import instance_name, legacy_instance_name
from tests.compute.support import (
    OWNER,
    PROJECT,
    REGION,
    ZONE,
    names_by_kind,
    nothing_left,
    one_of_each,
    seed,
)

POD = Owner(cluster="fc", namespace="team-24", kind="Pod", name="db", uid="uid-db-24")
IMAGE = "projects/cos-cloud/global/images/family/cos-stable"


def vm_spec(owner: Owner = POD, **kwargs: Any) -> InstanceSpec:
    name = instance_name(owner.cluster, owner.namespace, owner.name)
    return InstanceSpec(name=name, machine_type="e2-small", image=IMAGE, metadata={"fc-containers": "0"},
                        owner=owner, **kwargs)


def instances(emulator: ComputeEmulator) -> dict[str, dict[str, Any]]:
    return {vm["name"]: vm for vm in emulator.state.dump()["resources"]["instances"]}


def wait(client_kwargs: dict[str, Any], op: compute_v1.Operation) -> None:
    if op.zone:
        compute_v1.ZoneOperationsClient(**client_kwargs).wait(project=PROJECT, zone=ZONE, operation=op.name)
    elif op.region:
        compute_v1.RegionOperationsClient(**client_kwargs).wait(project=PROJECT, region=REGION, operation=op.name)
    else:
        compute_v1.GlobalOperationsClient(**client_kwargs).wait(project=PROJECT, operation=op.name)


# -- names ---------------------------------------------------------------------------------


def test_namespaces_that_collided_under_four_hex_get_their_own_names() -> None:
    assert hashlib.sha256(b"team-24").hexdigest()[:4] == hashlib.sha256(b"team-48").hexdigest()[:4] == "fb1a"
    assert legacy_instance_name("fc", "team-24", "db") == legacy_instance_name("fc", "team-48", "db")
    a, b = instance_name("fc", "team-24", "db"), instance_name("fc", "team-48", "db")
    assert a != b and a.startswith("fc-db-") and len(a) == len("fc-db-") + 10
    assert load_balancer_name("team-24", "web") != load_balancer_name("team-48", "web")
    assert load_balancer_name("team-24", "web").startswith("web-")


@pytest.mark.parametrize("cluster", ["c", "firecontrol", "a" * 20])
@pytest.mark.parametrize("pod", ["x", "web-b2c4d", "a" * 40, "a" * 38 + "-b"])
def test_names_are_valid_gce_names_of_at_most_63(cluster: str, pod: str) -> None:
    vm = instance_name(cluster, "n" * 63, pod)
    assert cloud_names.is_valid(vm) and len(vm) <= 63 and vm.startswith(f"{cluster}-")
    resource = cloud_names.resource_name(cluster, load_balancer_name("n" * 63, pod))
    checker = cloud_names.health_check_firewall(resource)
    assert cloud_names.is_valid(resource) and cloud_names.is_valid(checker) and len(checker) <= 63
    assert resource.startswith(f"{cluster}-{pod[:10]}")  # readable, never cut to a bare hash


def test_the_hash_is_base36_and_stable() -> None:
    h = cloud_names.name_hash("team-24/db")
    assert h == cloud_names.name_hash("team-24/db") and len(h) == 10 and h.isalnum() and h == h.lower()


# -- VMs -------------------------------------------------------------------------------------


def test_vm_carries_its_owner_and_is_hardened(emulator: ComputeEmulator, cloud: Any) -> None:
    info = cloud.ensure_instance(vm_spec())
    vm = instances(emulator)[info.name]
    assert vm["labels"] == {"firecontrol-cluster": "fc", "firecontrol-namespace": "team-24",
                            "firecontrol-pod": "db", "firecontrol-uid": "uid-db-24"}
    assert "accessConfigs" not in vm["networkInterfaces"][0] or vm["networkInterfaces"][0]["accessConfigs"] == []
    items = {i["key"]: i["value"] for i in vm["metadata"]["items"]}
    assert items["block-project-ssh-keys"] == "TRUE" and items["enable-oslogin"] == "TRUE"
    assert vm["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}
    assert not vm.get("serviceAccounts")
    assert info.external_ip is None and info.internal_ip and info.id
    assert cloud.ensure_instance(vm_spec()).name == info.name  # ours: a 409 is reuse


def test_external_ip_and_service_account_when_asked(emulator: ComputeEmulator, cloud: Any) -> None:
    info = cloud.ensure_instance(vm_spec(external_ip=True, service_account="pods@p.iam.gserviceaccount.com"))
    vm = instances(emulator)[info.name]
    assert info.external_ip and len(vm["networkInterfaces"][0]["accessConfigs"]) == 1
    assert vm["serviceAccounts"] == [{"email": "pods@p.iam.gserviceaccount.com",
                                      "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]


@pytest.mark.parametrize("labels", [
    {},  # someone else's VM
    {"firecontrol-cluster": "other", "firecontrol-namespace": "team-24", "firecontrol-pod": "db", "firecontrol-uid": "uid-db-24"},
    {"firecontrol-cluster": "fc", "firecontrol-namespace": "team-48", "firecontrol-pod": "db", "firecontrol-uid": "uid-db-48"},
    {"firecontrol-cluster": "fc", "firecontrol-namespace": "team-24", "firecontrol-pod": "db", "firecontrol-uid": "old-uid"},
], ids=["unlabelled", "other-cluster", "other-namespace", "earlier-pod"])
def test_a_vm_that_is_not_the_pods_is_neither_adopted_nor_deleted(emulator: ComputeEmulator, cloud: Any,
                                                                 labels: dict[str, str]) -> None:
    name = vm_spec().name
    seed(emulator, [name], labels)
    before = instances(emulator)[name]
    with pytest.raises(NameConflictError, match="not this pod's"):
        cloud.ensure_instance(vm_spec())
    with pytest.raises(NameConflictError):
        cloud.ensure_instance_deleted(name, owner_uid=POD.uid)
    with pytest.raises(NameConflictError):
        cloud.ensure_instance_deleted(name, owner=POD)
    assert instances(emulator)[name] == before
    assert "instances.delete" not in emulator.requests()


def test_delete_checks_the_owner(emulator: ComputeEmulator, cloud: Any) -> None:
    name = cloud.ensure_instance(vm_spec()).name
    with pytest.raises(NameConflictError):
        cloud.ensure_instance_deleted(name, owner_uid="someone-else")
    cloud.ensure_instance_deleted(name, owner_uid=POD.uid)
    assert name not in instances(emulator)
    cloud.ensure_instance_deleted(name, owner_uid=POD.uid)  # gone: quiet


def test_a_vm_from_before_uid_labels_is_its_pods(emulator: ComputeEmulator, cloud: Any) -> None:
    """An older version labelled cluster, namespace and pod: that VM is deleted with its pod."""
    seed(emulator, ["fc-fb1a-db"], {"firecontrol-cluster": "fc", "firecontrol-namespace": "team-24", "firecontrol-pod": "db"})
    with pytest.raises(NameConflictError):  # the other namespace's pod of the same name
        cloud.ensure_instance_deleted("fc-fb1a-db", owner=Owner("fc", "team-48", "Pod", "db", "uid-db-48"))
    cloud.ensure_instance_deleted("fc-fb1a-db", owner=POD)
    assert instances(emulator) == {}


# -- load balancers --------------------------------------------------------------------------


def test_descriptions_name_the_owner_and_list_gives_the_uid(emulator: ComputeEmulator, cloud: Any) -> None:
    cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER)
    for kind, items in emulator.state.dump()["resources"].items():
        for item in items:
            if kind != "instances":
                assert cloud_names.describes(item["description"], "fc", "web", OWNER.uid), (kind, item["name"])
                assert '"firecontrol.namespace": "default"' in item["description"]
    assert cloud.list_load_balancers(REGION) == {"web": {"uid-web"}}


def test_a_load_balancer_of_another_owner_is_left_alone(emulator: ComputeEmulator, cloud: Any) -> None:
    cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER)
    before = emulator.state.dump()["resources"]
    other = Owner("fc", "default", "Service", "web", "uid-another-web")
    with pytest.raises(NameConflictError, match="address fc-web"):
        cloud.ensure_load_balancer("web", REGION, [8080], [], owner=other)
    with pytest.raises(NameConflictError):
        cloud.ensure_load_balancer_deleted("web", REGION, owner_uid=other.uid)
    assert emulator.state.dump()["resources"] == before
    cloud.ensure_load_balancer_deleted("web", REGION, owner_uid=OWNER.uid)
    assert nothing_left(emulator)


def test_an_address_made_by_someone_else_is_not_taken(emulator: ComputeEmulator, cloud: Any,
                                                      client_kwargs: dict[str, Any]) -> None:
    addresses = compute_v1.AddressesClient(**client_kwargs)
    wait(client_kwargs, addresses.insert_unary(project=PROJECT, region=REGION,
                                               address_resource=compute_v1.Address(name="fc-web")))
    with pytest.raises(NameConflictError, match="address fc-web"):
        cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER)
    assert names_by_kind(emulator)["addresses"] == ["fc-web"] and names_by_kind(emulator)["forwardingRules"] == []
    with pytest.raises(NameConflictError):
        cloud.ensure_load_balancer_deleted("web", REGION, owner_uid=OWNER.uid)
    assert names_by_kind(emulator)["addresses"] == ["fc-web"]


def test_a_forwarding_rule_made_by_someone_else_is_not_replaced(emulator: ComputeEmulator, cloud: Any,
                                                                client_kwargs: dict[str, Any]) -> None:
    pools = compute_v1.TargetPoolsClient(**client_kwargs)
    wait(client_kwargs, pools.insert_unary(project=PROJECT, region=REGION,
                                           target_pool_resource=compute_v1.TargetPool(name="theirs")))
    pool = pools.get(project=PROJECT, region=REGION, target_pool="theirs").self_link
    rules = compute_v1.ForwardingRulesClient(**client_kwargs)
    body = compute_v1.ForwardingRule(name="fc-web", target=pool, port_range="80", description="not firecontrol's")
    wait(client_kwargs, rules.insert_unary(project=PROJECT, region=REGION, forwarding_rule_resource=body))
    theirs = emulator.state.dump()["resources"]["forwardingRules"]
    with pytest.raises(NameConflictError, match="forwarding rule fc-web"):
        cloud.ensure_load_balancer("web", REGION, [443], [], owner=OWNER)
    assert emulator.state.dump()["resources"]["forwardingRules"] == theirs
    with pytest.raises(NameConflictError, match="forwarding rule fc-web"):
        cloud.ensure_load_balancer_deleted("web", REGION, owner_uid=OWNER.uid)
    left = names_by_kind(emulator)
    assert left["forwardingRules"] == ["fc-web"] and left["targetPools"] == ["theirs"]  # ours gone, theirs kept
    assert left["addresses"] == left["firewalls"] == left["httpHealthChecks"] == []


# -- the network -------------------------------------------------------------------------------


def test_firewalls_admit_the_source_ranges_to_the_ip_and_health_checkers(emulator: ComputeEmulator, cloud: Any) -> None:
    ip = cloud.ensure_load_balancer("web", REGION, [80, 443], [], owner=OWNER,
                                    source_ranges=["198.51.100.0/24", "203.0.113.9/32"])
    firewalls = {f["name"]: f for f in emulator.state.dump()["resources"]["firewalls"]}
    service, checker = firewalls["fc-web"], firewalls["fc-web-hc"]
    assert service["sourceRanges"] == ["198.51.100.0/24", "203.0.113.9/32"]
    assert service["destinationRanges"] == [f"{ip}/32"] and service["targetTags"] == ["fc"]
    assert checker["sourceRanges"] == ["35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22"]
    # The agent's health endpoint, whatever the service's ports (docs/agent-protocol.md).
    assert checker["allowed"] == [{"IPProtocol": "tcp", "ports": ["10256"]}] and checker["targetTags"] == ["fc"]

    cloud.ensure_load_balancer("web", REGION, [80, 443], [], owner=OWNER)  # back to everyone
    assert {f["name"]: f for f in emulator.state.dump()["resources"]["firewalls"]}["fc-web"]["sourceRanges"] == ["0.0.0.0/0"]
    with pytest.raises(Exception, match="not an IPv4 CIDR"):
        cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER, source_ranges=["everyone"])


def test_client_ip_affinity_reaches_the_pool_and_a_change_keeps_the_ip(emulator: ComputeEmulator, cloud: Any) -> None:
    seed(emulator, ["vm-1"])
    ip = cloud.ensure_load_balancer("web", REGION, [80], ["vm-1"], owner=OWNER, session_affinity="CLIENT_IP")
    [pool] = emulator.state.dump()["resources"]["targetPools"]
    assert pool["sessionAffinity"] == "CLIENT_IP"
    assert cloud.ensure_load_balancer("web", REGION, [80], ["vm-1"], owner=OWNER) == ip
    [pool] = emulator.state.dump()["resources"]["targetPools"]
    assert pool["sessionAffinity"] == "NONE" and pool["instances"][0].endswith("/vm-1")
    assert one_of_each(emulator, "fc-web")


# -- a caller's own IP -----------------------------------------------------------------------

TEAM_A = Owner("fc", "team-a", "Service", "web", "uid-team-a-web")
TEAM_B = Owner("fc", "team-b", "Service", "web", "uid-team-b-web")


def test_another_load_balancers_address_is_not_taken_as_the_callers_ip(emulator: ComputeEmulator, cloud: Any) -> None:
    """team-b names team-a's reserved IP as its own: a NameConflict, nothing made, and
    team-a's load balancer (address too) still goes when team-a's service does."""
    ip = cloud.ensure_load_balancer("web-a", REGION, [80], [], owner=TEAM_A)
    before = emulator.state.dump()["resources"]
    with pytest.raises(NameConflictError, match=f"loadBalancerIP {ip} is address fc-web-a"):
        cloud.ensure_load_balancer("web-b", REGION, [80], [], owner=TEAM_B, load_balancer_ip=ip)
    assert emulator.state.dump()["resources"] == before
    assert emulator.requests().get("addresses.list") == 1
    cloud.ensure_load_balancer_deleted("web-a", REGION, owner_uid=TEAM_A.uid)
    assert nothing_left(emulator)


def test_an_earlier_services_address_under_the_same_name_is_not_taken(emulator: ComputeEmulator, cloud: Any) -> None:
    """Same load balancer name, another uid (a service made again): its IP is not the new one's."""
    ip = cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER)
    again = Owner("fc", "default", "Service", "web", "uid-web-again")
    with pytest.raises(NameConflictError, match="loadBalancerIP"):
        cloud.ensure_load_balancer("web", REGION, [80], [], owner=again, load_balancer_ip=ip)
    assert one_of_each(emulator, "fc-web")


def test_another_clusters_address_is_not_taken_either(emulator: ComputeEmulator, cloud: Any,
                                                      client_kwargs: dict[str, Any]) -> None:
    addresses = compute_v1.AddressesClient(**client_kwargs)
    theirs = cloud_names.description("other", "web", Owner("other", "default", "Service", "web", "uid-other"))
    wait(client_kwargs, addresses.insert_unary(project=PROJECT, region=REGION, address_resource=compute_v1.Address(
        name="other-web", address="203.0.113.90", description=theirs)))
    with pytest.raises(NameConflictError, match="other-web"):
        cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER, load_balancer_ip="203.0.113.90")
    assert names_by_kind(emulator)["addresses"] == ["other-web"] and names_by_kind(emulator)["firewalls"] == []


def test_a_rule_an_earlier_version_put_on_anothers_address_is_removed(emulator: ComputeEmulator, cloud: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the check, team-b's forwarding rule could sit on team-a's address and keep
    team-a's teardown from releasing it. The next pass removes that rule of team-b's."""
    ip = cloud.ensure_load_balancer("web-a", REGION, [80], [], owner=TEAM_A)
    with monkeypatch.context() as patched:
        patched.setattr(cloud, "_check_user_ip", lambda spec, ip: None)  # the version before
        assert cloud.ensure_load_balancer("web-b", REGION, [8080], [], owner=TEAM_B, load_balancer_ip=ip) == ip
    assert sorted(names_by_kind(emulator)["forwardingRules"]) == ["fc-web-a", "fc-web-b"]
    with pytest.raises(NameConflictError, match="loadBalancerIP"):
        cloud.ensure_load_balancer("web-b", REGION, [8080], [], owner=TEAM_B, load_balancer_ip=ip)
    assert names_by_kind(emulator)["forwardingRules"] == ["fc-web-a"]
    cloud.ensure_load_balancer_deleted("web-a", REGION, owner_uid=TEAM_A.uid)
    assert names_by_kind(emulator)["addresses"] == []
    cloud.ensure_load_balancer_deleted("web-b", REGION, owner_uid=TEAM_B.uid)
    assert nothing_left(emulator)


# -- two owners under one name -----------------------------------------------------------------


def test_list_gives_every_owner_under_a_name(emulator: ComputeEmulator, cloud: Any,
                                             client_kwargs: dict[str, Any]) -> None:
    """An old service's teardown stopped before its address; a new service of the same name
    (its own IP) made the rest. Both uids are listed, and deleting the old uid's takes its address."""
    addresses = compute_v1.AddressesClient(**client_kwargs)
    wait(client_kwargs, addresses.insert_unary(project=PROJECT, region=REGION, address_resource=compute_v1.Address(
        name="mine", address="203.0.113.77")))
    cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER)

    def stop(step: str) -> None:
        if step == "firewall-deleted":
            raise RuntimeError("killed before the address")

    cloud.on_step = stop
    with pytest.raises(RuntimeError):
        cloud.ensure_load_balancer_deleted("web", REGION, owner_uid=OWNER.uid)
    cloud.on_step = lambda step: None
    again = Owner("fc", "default", "Service", "web", "uid-web-again")
    assert cloud.ensure_load_balancer("web", REGION, [80], [], owner=again, load_balancer_ip="203.0.113.77") == "203.0.113.77"
    assert cloud.list_load_balancers(REGION) == {"web": {OWNER.uid, again.uid}}

    with pytest.raises(NameConflictError):  # the new owner's resources stay
        cloud.ensure_load_balancer_deleted("web", REGION, owner_uid=OWNER.uid)
    assert sorted(names_by_kind(emulator)["addresses"]) == ["mine"]
    assert cloud.list_load_balancers(REGION) == {"web": {again.uid}}


def test_list_gives_none_for_resources_from_before_uids(emulator: ComputeEmulator, cloud: Any,
                                                        client_kwargs: dict[str, Any]) -> None:
    addresses = compute_v1.AddressesClient(**client_kwargs)
    wait(client_kwargs, addresses.insert_unary(project=PROJECT, region=REGION, address_resource=compute_v1.Address(
        name="fc-web", description=cloud_names.description("fc", "web"))))
    assert cloud.list_load_balancers(REGION) == {"web": {None}}
