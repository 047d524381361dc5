"""The emulator refuses what Compute Engine refuses, through the real google-cloud-compute client.

One test per rule: the refusal has Compute Engine's code, reason and wording, and
nothing was made (no resource, no pending insert, no address taken).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from emulator.compute import ComputeEmulator, Quotas
from emulator.compute.errors import ApiError
from tests.compute.support import PROJECT, REGION, ZONE, admin, seed

DONE = compute_v1.Operation.Status.DONE
EAST, EAST_ZONE = "us-east1", "us-east1-b"
IMAGE = "projects/debian-cloud/global/images/family/debian-12"


def wait(kw: dict[str, Any], op: compute_v1.Operation) -> compute_v1.Operation:
    """Wait on a zonal, regional or global operation until DONE; fail on its error."""
    while op.status != DONE:
        if op.zone:
            op = compute_v1.ZoneOperationsClient(**kw).wait(project=PROJECT, zone=op.zone.rsplit("/", 1)[-1], operation=op.name)
        elif op.region:
            op = compute_v1.RegionOperationsClient(**kw).wait(project=PROJECT, region=op.region.rsplit("/", 1)[-1], operation=op.name)
        else:
            op = compute_v1.GlobalOperationsClient(**kw).wait(project=PROJECT, operation=op.name)
    assert not op.error.errors, op.error
    return op


@dataclass(frozen=True)
class Refusal:
    code: int
    reason: str
    message: str


def vm(name: str, machine_type: str = "e2-small", zone: str = ZONE, *, nat: bool = True, **fields: Any) -> compute_v1.Instance:
    nic = compute_v1.NetworkInterface(access_configs=[compute_v1.AccessConfig(name="External NAT")] if nat else [])
    disk = compute_v1.AttachedDisk(boot=True, auto_delete=True,
                                   initialize_params=compute_v1.AttachedDiskInitializeParams(source_image=IMAGE))
    return compute_v1.Instance(name=name, machine_type=f"zones/{zone}/machineTypes/{machine_type}",
                               network_interfaces=[nic], disks=[disk], **fields)


def insert(kw: dict[str, Any], instance: compute_v1.Instance, zone: str = ZONE) -> compute_v1.Operation:
    return compute_v1.InstancesClient(**kw).insert_unary(project=PROJECT, zone=zone, instance_resource=instance)


def refused(call: Any, *args: Any, kind: type[gexc.GoogleAPICallError] = gexc.BadRequest, **kwargs: Any) -> Refusal:
    """``call(*args, **kwargs)`` must fail with ``kind``: its code, reason and message as sent."""
    with pytest.raises(kind) as error:
        call(*args, **kwargs)
    first = error.value.errors[0]
    return Refusal(int(error.value.code or 0), str(first["reason"]), str(first["message"]))


def made(emulator: ComputeEmulator) -> dict[str, list[str]]:
    """Every stored resource's name by kind, and the inserts still pending."""
    dump = emulator.state.dump()
    out = {kind: [r["name"] for r in items] for kind, items in dump["resources"].items() if items}
    if emulator.state.pending:
        out["pending"] = sorted(k.name for k in emulator.state.pending)
    return out


def test_machine_types_are_those_the_zone_offers(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    for machine_type, zone in (("c3-standard-4", "us-central1-f"),  # C3 is not in us-central1-f
                               ("n1-standard-1", "europe-west8-a"),  # nor N1 in europe-west8
                               ("e2-standard-3", ZONE),  # no such size
                               ("n2-highcpu-128", ZONE),  # N2 high-CPU stops at 96
                               ("custom-3-3072", ZONE),  # custom vCPUs are even (or 1)
                               ("e2-custom-4-40960", ZONE)):  # 10 GB a vCPU is more than E2 allows
        error = refused(insert, client_kwargs, vm("vm", machine_type, zone), zone)
        assert error.code == 400 and error.reason == "invalid"
        assert error.message == (
            f"Invalid value for field 'resource.machineType': 'zones/{zone}/machineTypes/{machine_type}'. "
            f"Machine type with name '{machine_type}' does not exist in zone '{zone}'.")
    other_zone = vm("vm", "e2-small", "us-central1-b")  # a type named in another zone than the instance's
    assert "does not exist in zone 'us-central1-a'" in refused(insert, client_kwargs, other_zone).message
    assert "machineType" in refused(insert, client_kwargs, compute_v1.Instance(name="vm")).message
    no_disk = vm("vm")
    no_disk.disks = []
    assert "resource.disks" in refused(insert, client_kwargs, no_disk).message
    assert made(emulator) == {}

    wait(client_kwargs, insert(client_kwargs, vm("big", "n2-highmem-128")))
    wait(client_kwargs, insert(client_kwargs, vm("c3", "c3-standard-176", "us-central1-b"), "us-central1-b"))
    wait(client_kwargs, insert(client_kwargs, vm("custom", "n2-custom-4-8192")))
    assert emulator.quotas()["usage"] == {PROJECT: {REGION: 128 + 176 + 4}}
    got = compute_v1.InstancesClient(**client_kwargs).get(project=PROJECT, zone=ZONE, instance="big")
    assert got.machine_type == f"{emulator.url}/compute/v1/projects/{PROJECT}/zones/{ZONE}/machineTypes/n2-highmem-128"


def test_zones_and_regions_are_known_ones(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    error = refused(insert, client_kwargs, vm("vm", zone="us-central1-z"), "us-central1-z")
    assert error.code == 400 and error.message == "Invalid value for field 'zone': 'us-central1-z'. Unknown zone."
    error = refused(compute_v1.InstancesClient(**client_kwargs).list, project=PROJECT, zone="mars-north1-a")
    assert error.message == "Invalid value for field 'zone': 'mars-north1-a'. Unknown zone."
    pool = compute_v1.TargetPool(name="pool")
    error = refused(compute_v1.TargetPoolsClient(**client_kwargs).insert_unary,
        project=PROJECT, region="us-central9", target_pool_resource=pool)
    assert error.message == "Invalid value for field 'region': 'us-central9'. Unknown region."
    with pytest.raises(gexc.NotFound):  # a get in a zone that does not exist finds nothing
        compute_v1.InstancesClient(**client_kwargs).get(project=PROJECT, zone="us-central1-z", instance="vm")
    assert made(emulator) == {}


def test_metadata_within_compute_limits(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    def with_metadata(**items: str) -> compute_v1.Instance:
        metadata = compute_v1.Metadata(items=[compute_v1.Items(key=k.replace("_", "-"), value=v) for k, v in items.items()])
        return vm("vm", metadata=metadata)

    kib = 1024
    error = refused(insert, client_kwargs, with_metadata(small="x", env="x" * (256 * kib + 1)))
    assert error.message == ("Value for field 'resource.metadata.items[1].value' is too large: "
                             "maximum size 262144 character(s); actual size 262145.")
    error = refused(insert, client_kwargs, with_metadata(a="é" * (128 * kib + 1)))  # bytes, not characters
    assert "actual size 262146" in error.message
    error = refused(insert, client_kwargs, with_metadata(a="x" * 200 * kib, b="x" * 200 * kib, c="x" * 200 * kib))
    assert error.message.startswith("Invalid value for field 'resource.metadata': ''. Metadata has exceeded the limit")
    bad_key = vm("vm", metadata=compute_v1.Metadata(items=[compute_v1.Items(key="user data", value="x")]))
    assert refused(insert, client_kwargs, bad_key).message == (
        "Invalid value for field 'resource.metadata.items[0].key': 'user data'. "
        "Must be a match of regex '[a-zA-Z0-9-_]{1,128}'")
    long_key = vm("vm", metadata=compute_v1.Metadata(items=[compute_v1.Items(key="k" * 129, value="x")]))
    assert refused(insert, client_kwargs, long_key).reason == "invalid"
    assert made(emulator) == {}

    at_the_limits = with_metadata(a="x" * 256 * kib, b="x" * (256 * kib - 2))  # 512 KiB with both keys
    wait(client_kwargs, insert(client_kwargs, at_the_limits))
    assert made(emulator) == {"instances": ["vm"]}


def test_labels_within_compute_rules(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    key_rule = ("violates format constraints. The key must start with a lowercase character, can only contain "
                "lowercase letters, numeric characters, underscores and dashes. The key can be at most 63 "
                "characters long. International characters are allowed.")
    for bad_key in ("Env", "1env", "e" * 64, "env.x", "Ключ"):
        error = refused(insert, client_kwargs, vm("vm", labels={bad_key: "x"}))
        assert error.message == f"Invalid value for field 'resource.labels': ''. Label key '{bad_key}' {key_rule}"
    for bad_value in ("Prod", "a" * 64, "a/b", "x y"):
        error = refused(insert, client_kwargs, vm("vm", labels={"env": bad_value}))
        assert error.message.startswith(f"Invalid value for field 'resource.labels': ''. Label value '{bad_value}' "
                                        "violates format constraints.")
    too_many = {f"k{i}": "v" for i in range(65)}
    assert "at most 64 labels" in refused(insert, client_kwargs, vm("vm", labels=too_many)).message
    address = compute_v1.Address(name="ip", labels={"Team": "a"})
    assert refused(compute_v1.AddressesClient(**client_kwargs).insert_unary,
        project=PROJECT, region=REGION, address_resource=address).reason == "invalid"
    assert made(emulator) == {}
    assert emulator.state.external_ips.used == set()  # the refused address took no IP

    fine = {f"k{i}": "v" for i in range(61)} | {"ключ": "значение", "项目": "", "e" * 63: "a-b_1" * 12 + "abc"}
    wait(client_kwargs, insert(client_kwargs, vm("vm", labels=fine)))
    got = compute_v1.InstancesClient(**client_kwargs).get(project=PROJECT, zone=ZONE, instance="vm")
    assert dict(got.labels) == fine


def test_names_and_tags_are_rfc1035(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    name_rule = "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"
    for bad in ("Web", "1web", "web-", "w" * 64, "web_1"):
        error = refused(insert, client_kwargs, vm(bad))
        assert error.message == f"Invalid value for field 'resource.name': '{bad}'. {name_rule}"
        error = refused(compute_v1.TargetPoolsClient(**client_kwargs).insert_unary,
            project=PROJECT, region=REGION, target_pool_resource=compute_v1.TargetPool(name=bad))
        assert error.reason == "invalid"
        firewall = compute_v1.Firewall(name=bad, allowed=[compute_v1.Allowed(I_p_protocol="tcp")])
        assert refused(compute_v1.FirewallsClient(**client_kwargs).insert_unary,
            project=PROJECT, firewall_resource=firewall).reason == "invalid"
    tagged = vm("vm", tags=compute_v1.Tags(items=["fc", "Web"]))
    assert refused(insert, client_kwargs, tagged).message == (
        f"Invalid value for field 'resource.tags.items[1]': 'Web'. {name_rule}")
    firewall = compute_v1.Firewall(name="fw", allowed=[compute_v1.Allowed(I_p_protocol="tcp")], target_tags=["a b"])
    assert refused(compute_v1.FirewallsClient(**client_kwargs).insert_unary,
        project=PROJECT, firewall_resource=firewall).reason == "invalid"
    with pytest.raises(ApiError):  # fixtures cannot seed what the API would refuse either
        seed(emulator, ["Not_A_Name"])
    assert made(emulator) == {}
    wait(client_kwargs, insert(client_kwargs, vm("w" * 63)))


def test_regional_cpu_quota(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    assert admin(emulator, "POST", "/emulator/quotas", {"cpus": 8, "region_cpus": {EAST: 2}})["cpus"] == 8
    wait(client_kwargs, insert(client_kwargs, vm("a", "e2-standard-4")))
    emulator.configure({"operation_delay": 2.0})
    insert(client_kwargs, vm("b", "e2-standard-4"))  # still pending: its vCPUs count already
    error = refused(insert, client_kwargs, vm("c", "e2-small"), kind=gexc.Forbidden)
    assert error.code == 403 and error.reason == "quotaExceeded"
    assert error.message == "Quota 'CPUS' exceeded. Limit: 8.0 in region us-central1."
    east = refused(insert, client_kwargs, vm("d", "e2-standard-4", EAST_ZONE), EAST_ZONE, kind=gexc.Forbidden)
    assert east.message == "Quota 'CPUS' exceeded. Limit: 2.0 in region us-east1."
    assert made(emulator) == {"instances": ["a"], "pending": ["b"]}
    assert admin(emulator, "GET", "/emulator/quotas")["usage"] == {PROJECT: {REGION: 8}}

    emulator.configure({"operation_delay": 0.01})
    admin(emulator, "POST", f"/emulator/projects/{PROJECT}/zones/{ZONE}/instances/a/stop")  # TERMINATED: not counted
    wait(client_kwargs, insert(client_kwargs, vm("c", "e2-standard-4")))
    wait(client_kwargs, insert(client_kwargs, vm("d", "e2-small", EAST_ZONE), EAST_ZONE))
    assert admin(emulator, "GET", "/emulator/quotas")["usage"] == {PROJECT: {REGION: 8, EAST: 2}}

    pool = emulator.state.external_ips  # every external address taken: IN_USE_ADDRESSES, as before
    pool.used.update(str(ip) for ip in pool.network.hosts())
    error = refused(compute_v1.AddressesClient(**client_kwargs).insert_unary, project=PROJECT, region=EAST,
                    address_resource=compute_v1.Address(name="ip"), kind=gexc.Forbidden)
    assert error.message == "Quota 'IN_USE_ADDRESSES' exceeded. Limit: 254.0 in region us-east1."

    emulator.reset()  # back to the constructor's quotas (generous by default)
    assert emulator.quotas()["cpus"] == 1000.0 and emulator.quotas()["region_cpus"] == {}


def test_cpu_quota_as_a_constructor_option(client_kwargs: dict[str, Any]) -> None:
    small = ComputeEmulator(quotas=Quotas(cpus=2)).start()
    try:
        kw = {**client_kwargs, "client_options": {"api_endpoint": small.url}}
        wait(kw, insert(kw, vm("a", "e2-micro")))  # shared-core E2 counts as 2 vCPUs
        error = refused(insert, kw, vm("b", "n1-standard-1"), kind=gexc.Forbidden)
        assert error.message == "Quota 'CPUS' exceeded. Limit: 2.0 in region us-central1."
        small.reset()
        assert small.quotas()["cpus"] == 2.0
    finally:
        small.stop()


def test_resources_of_another_region_are_refused(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    wait(client_kwargs, insert(client_kwargs, vm("east-vm", zone=EAST_ZONE), EAST_ZONE))
    pools = compute_v1.TargetPoolsClient(**client_kwargs)
    wait(client_kwargs, pools.insert_unary(project=PROJECT, region=REGION, target_pool_resource=compute_v1.TargetPool(name="pool")))
    east_ref = f"zones/{EAST_ZONE}/instances/east-vm"
    add = compute_v1.TargetPoolsAddInstanceRequest(instances=[compute_v1.InstanceReference(instance=east_ref)])
    error = refused(pools.add_instance_unary, project=PROJECT, region=REGION, target_pool="pool",
                                                     target_pools_add_instance_request_resource=add)
    assert error.message == (f"Invalid value for field 'resource.instances[0].instance': '{east_ref}'. "
                             f"The instance is in region '{EAST}'; it must be in region '{REGION}'.")
    assert list(pools.get(project=PROJECT, region=REGION, target_pool="pool").instances) == []
    mixed = compute_v1.TargetPool(name="mixed", instances=[east_ref])
    assert refused(pools.insert_unary, project=PROJECT, region=REGION, target_pool_resource=mixed).reason == "invalid"

    pool_link = pools.get(project=PROJECT, region=REGION, target_pool="pool").self_link
    rules = compute_v1.ForwardingRulesClient(**client_kwargs)
    rule = compute_v1.ForwardingRule(name="rule", target=pool_link, port_range="80", I_p_protocol="TCP")
    error = refused(rules.insert_unary, project=PROJECT, region=EAST, forwarding_rule_resource=rule)
    assert error.message == (f"Invalid value for field 'resource.target': '{pool_link}'. "
                             f"The target pool is in region '{REGION}'; it must be in region '{EAST}'.")
    addresses = compute_v1.AddressesClient(**client_kwargs)
    wait(client_kwargs, addresses.insert_unary(project=PROJECT, region=EAST, address_resource=compute_v1.Address(name="east-ip")))
    east_ip = addresses.get(project=PROJECT, region=EAST, address="east-ip").self_link
    rule = compute_v1.ForwardingRule(name="rule", target=pool_link, port_range="80", I_p_address=east_ip)
    error = refused(rules.insert_unary, project=PROJECT, region=REGION, forwarding_rule_resource=rule)
    assert "The address is in region 'us-east1'" in error.message
    assert made(emulator) == {"instances": ["east-vm"], "targetPools": ["pool"], "addresses": ["east-ip"]}


def test_hardened_fields_round_trip(emulator: ComputeEmulator, client_kwargs: dict[str, Any]) -> None:
    """What pods' VMs and services' load balancers now carry is accepted, stored and returned."""
    hardened = vm(
        "vm", nat=False,
        metadata=compute_v1.Metadata(items=[compute_v1.Items(key="block-project-ssh-keys", value="TRUE"),
                                            compute_v1.Items(key="enable-oslogin", value="TRUE")]),
        shielded_instance_config=compute_v1.ShieldedInstanceConfig(
            enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True),
        service_accounts=[compute_v1.ServiceAccount(email=f"fc-pods@{PROJECT}.iam.gserviceaccount.com",
                                                    scopes=["https://www.googleapis.com/auth/cloud-platform"])],
    )
    wait(client_kwargs, insert(client_kwargs, hardened))
    got = compute_v1.InstancesClient(**client_kwargs).get(project=PROJECT, zone=ZONE, instance="vm")
    assert got.network_interfaces[0].network_i_p and not got.network_interfaces[0].access_configs  # no external IP
    assert emulator.state.nat_ips.used == set()
    assert {i.key: i.value for i in got.metadata.items} == {"block-project-ssh-keys": "TRUE", "enable-oslogin": "TRUE"}
    shielded = got.shielded_instance_config
    assert shielded.enable_secure_boot and shielded.enable_vtpm and shielded.enable_integrity_monitoring
    assert got.service_accounts[0].email == f"fc-pods@{PROJECT}.iam.gserviceaccount.com"
    assert list(got.service_accounts[0].scopes) == ["https://www.googleapis.com/auth/cloud-platform"]
    two_accounts = vm("vm2", service_accounts=[compute_v1.ServiceAccount(email="a@x"), compute_v1.ServiceAccount(email="b@x")])
    assert refused(insert, client_kwargs, two_accounts).reason == "invalid"

    firewalls = compute_v1.FirewallsClient(**client_kwargs)
    firewall = compute_v1.Firewall(name="fw", allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["6379"])],
                                   source_ranges=["10.0.0.0/8"], destination_ranges=["203.0.113.7/32"], target_tags=["fc"])
    wait(client_kwargs, firewalls.insert_unary(project=PROJECT, firewall_resource=firewall))
    assert list(firewalls.get(project=PROJECT, firewall="fw").destination_ranges) == ["203.0.113.7/32"]
    patch = compute_v1.Firewall(destination_ranges=["203.0.113.8/32"], source_ranges=["192.0.2.0/24"])
    wait(client_kwargs, firewalls.patch_unary(project=PROJECT, firewall="fw", firewall_resource=patch))
    got_fw = firewalls.get(project=PROJECT, firewall="fw")
    assert list(got_fw.destination_ranges) == ["203.0.113.8/32"] and list(got_fw.source_ranges) == ["192.0.2.0/24"]
    bad = compute_v1.Firewall(name="bad", allowed=[compute_v1.Allowed(I_p_protocol="tcp")], destination_ranges=["not-an-ip"])
    assert refused(firewalls.insert_unary, project=PROJECT, firewall_resource=bad).message.startswith(
        "Invalid value for field 'resource.destinationRanges[0]': 'not-an-ip'.")
    bad_patch = compute_v1.Firewall(destination_ranges=["300.0.0.0/8"])
    assert refused(firewalls.patch_unary, project=PROJECT, firewall="fw", firewall_resource=bad_patch).reason == "invalid"

    pools = compute_v1.TargetPoolsClient(**client_kwargs)
    for affinity in ("CLIENT_IP", "CLIENT_IP_PROTO", "NONE"):
        name = f"pool-{affinity.lower().replace('_', '-')}"
        wait(client_kwargs, pools.insert_unary(project=PROJECT, region=REGION, target_pool_resource=compute_v1.TargetPool(
            name=name, session_affinity=affinity)))
        assert pools.get(project=PROJECT, region=REGION, target_pool=name).session_affinity == affinity
    sticky = compute_v1.TargetPool(name="sticky", session_affinity="GENERATED_COOKIE")
    assert refused(pools.insert_unary, project=PROJECT, region=REGION, target_pool_resource=sticky).reason == "invalid"
    assert made(emulator) == {"instances": ["vm"], "firewalls": ["fw"],
                              "targetPools": ["pool-client-ip", "pool-client-ip-proto", "pool-none"]}


def test_the_gce_provider_meets_the_same_rules(emulator: ComputeEmulator, cloud: Any) -> None:
    """What ``GceCloud`` sends for a pod's VM passes; what Compute Engine refuses comes back as our errors."""
    from functions.cloudprovider.errors import InvalidRequestError, QuotaError
    from functions.cloudprovider.interface import InstanceSpec

    def spec(name: str, machine_type: str = "e2-small", **metadata: str) -> InstanceSpec:
        return InstanceSpec(name=name, machine_type=machine_type, image=IMAGE, metadata=metadata,
                            service_account=f"fc-pods@{PROJECT}.iam.gserviceaccount.com")

    info = cloud.ensure_instance(spec("pod-vm", env="x"))
    assert info.internal_ip and info.external_ip is None
    stored = emulator.state.dump()["resources"]["instances"][0]
    assert {i["key"] for i in stored["metadata"]["items"]} >= {"block-project-ssh-keys", "enable-oslogin", "env"}
    assert stored["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}
    with pytest.raises(InvalidRequestError, match="does not exist in zone"):
        cloud.ensure_instance(spec("big", "n2-highcpu-128"))
    with pytest.raises(InvalidRequestError, match="is too large"):
        cloud.ensure_instance(spec("fat", env="x" * (256 * 1024 + 1)))
    emulator.set_quotas({"cpus": 3})
    with pytest.raises(QuotaError, match=r"Quota 'CPUS' exceeded\. Limit: 3\.0 in region us-central1\."):
        cloud.ensure_instance(spec("second"))
    assert made(emulator) == {"instances": ["pod-vm"]}
