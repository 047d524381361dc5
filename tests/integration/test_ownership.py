"""Every cloud resource is its object's: names do not collide across namespaces, and a
VM, address or forwarding rule someone else made under the exact name firecontrol would
use is left untouched, with a ``NameConflict`` condition and Warning event on the object.

The Firestore emulator and the Compute emulator, through the real google-cloud-compute
client; nothing is mocked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from emulator.compute import ComputeEmulator
from functions.cloudprovider import names as cloud_names
from functions.controllers.pods import sync_pod
from functions.controllers.services import load_balancer_name, sync_service
from functions.runtime import Runtime
from functions.store import PODS, QUOTAS, SERVICES, doc_path
from functions.vm_spec import instance_name
from tests.helpers import pod_doc

ZONE, REGION = "us-central1-a", "us-central1"
TEAMS = ("team-24", "team-48")  # both hash to fb1a in the 4-hex scheme before issue 10


def svc(name: str = "web") -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "selector": {"app": "db"}, "ports": [{"port": 6379}]}}


def put(rt: Runtime, namespace: str, collection: str, name: str, doc: dict[str, Any]) -> str:
    path = doc_path(namespace, collection, name)
    rt.store.client.document(path).set(doc)
    return path


def data(rt: Runtime, path: str) -> dict[str, Any]:
    return rt.store.client.document(path).get().to_dict() or {}


def pod_pass(rt: Runtime, namespace: str, name: str = "db") -> Any:
    return sync_pod(rt.store, rt.provider, rt.settings, namespace, name, rt.clock)


def service_pass(rt: Runtime, namespace: str, name: str = "web") -> Any:
    return sync_service(rt.store, rt.provider, rt.settings, namespace, name, rt.clock)


def delete(rt: Runtime, path: str) -> None:
    rt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC)})


def condition(rt: Runtime, path: str, type_: str) -> dict[str, Any]:
    return next(c for c in data(rt, path)["status"]["conditions"] if c["type"] == type_)


def warnings(rt: Runtime, namespace: str = "default") -> list[tuple[str, str]]:
    events = [e.to_dict() or {} for e in rt.store.client.collection(f"namespaces/{namespace}/events").stream()]
    return sorted((e["reason"], e["involvedObject"]["name"]) for e in events if e["type"] == "Warning")


def resources(compute: ComputeEmulator) -> dict[str, list[dict[str, Any]]]:
    return compute.state.dump()["resources"]


def vm_ids(compute: ComputeEmulator) -> list[tuple[str, str, dict[str, str]]]:
    """Each VM's name, id and labels: the same VM, unchanged."""
    return [(vm["name"], vm["id"], vm["labels"]) for vm in resources(compute)["instances"]]


def client_kwargs(compute: ComputeEmulator) -> dict[str, Any]:
    return {"credentials": AnonymousCredentials(), "client_options": {"api_endpoint": compute.url}, "transport": "rest"}


def wait_zone(compute: ComputeEmulator, project: str, op: compute_v1.Operation) -> None:
    operations = compute_v1.ZoneOperationsClient(**client_kwargs(compute))
    operations.wait(project=project, zone=ZONE, operation=op.name)


def wait_region(compute: ComputeEmulator, project: str, op: compute_v1.Operation) -> None:
    operations = compute_v1.RegionOperationsClient(**client_kwargs(compute))
    operations.wait(project=project, region=REGION, operation=op.name)


def test_colliding_namespaces_each_get_their_own_vm_and_load_balancer(crt: Runtime, compute: ComputeEmulator) -> None:
    for team in TEAMS:
        put(crt, team, PODS, "db", pod_doc("db", {"app": "db"}))
        put(crt, team, SERVICES, "web", svc())
        pod_pass(crt, team)
    vms = {team: instance_name("fc", team, "db") for team in TEAMS}
    assert vms["team-24"] != vms["team-48"]
    by_name = {vm["name"]: vm for vm in resources(compute)["instances"]}
    assert sorted(by_name) == sorted(vms.values())
    for team, vm in vms.items():
        assert by_name[vm]["labels"]["firecontrol-namespace"] == team
        assert data(crt, doc_path(team, PODS, "db"))["spec"]["nodeName"] == vm
    ips = {team: service_pass(crt, team).ip for team in TEAMS}
    assert ips["team-24"] and ips["team-48"] and ips["team-24"] != ips["team-48"]
    assert len(resources(compute)["forwardingRules"]) == 2

    # Deleting team-24's pod and service leaves team-48's VM and load balancer whole.
    delete(crt, doc_path("team-24", PODS, "db"))
    delete(crt, doc_path("team-24", SERVICES, "web"))
    pod_pass(crt, "team-24")
    service_pass(crt, "team-24")
    assert [vm["name"] for vm in resources(compute)["instances"]] == [vms["team-48"]]
    [rule] = resources(compute)["forwardingRules"]
    assert rule["IPAddress"] == ips["team-48"]
    assert rule["name"] == cloud_names.resource_name("fc", load_balancer_name("team-48", "web"))
    assert crt.provider.get_load_balancer(load_balancer_name("team-48", "web"), REGION) == ips["team-48"]


def test_a_vm_made_by_someone_else_under_the_pods_name_is_left_alone(crt: Runtime, compute: ComputeEmulator) -> None:
    name = instance_name("fc", "default", "db")
    instances = compute_v1.InstancesClient(**client_kwargs(compute))
    body = compute_v1.Instance(name=name, machine_type=f"zones/{ZONE}/machineTypes/e2-small",
                               disks=[compute_v1.AttachedDisk(boot=True, auto_delete=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
                                   source_image="projects/debian-cloud/global/images/family/debian-12"))],
                               network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")])
    wait_zone(compute, crt.settings.project, instances.insert_unary(project=crt.settings.project, zone=ZONE, instance_resource=body))
    [theirs] = vm_ids(compute)

    path = put(crt, "default", PODS, "db", pod_doc("db", {"app": "db"}))
    result = pod_pass(crt, "default")
    assert result.action == "failed" and "not this pod's" in (result.error or "")
    scheduled = condition(crt, path, "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "NameConflict")
    assert warnings(crt) == [("NameConflict", "db")]
    assert "nodeName" not in data(crt, path)["spec"]
    compute.faults.reset_counts()
    assert pod_pass(crt, "default").action == "waiting"  # backed off: no retry storm
    assert "instances.insert" not in compute.requests()

    delete(crt, path)
    pod_pass(crt, "default")
    assert not crt.store.client.document(path).get().exists  # the pod goes; the VM stays
    assert vm_ids(compute) == [theirs]


def test_a_vm_of_the_other_namespace_recorded_by_an_older_version_is_not_used(crt: Runtime, compute: ComputeEmulator) -> None:
    """Before issue 10, team-48's db adopted team-24's VM (same name) and recorded it in
    spec.nodeName. Now that VM is not team-48's: the pod fails, the VM is kept."""
    legacy = "fc-fb1a-db"
    compute.state.seed_instances(crt.settings.project, ZONE, [legacy], {
        "firecontrol-cluster": "fc", "firecontrol-namespace": "team-24", "firecontrol-pod": "db"})
    doc = pod_doc("db", {"app": "db"})
    doc["metadata"]["finalizers"] = ["firecontrol.io/instance"]
    doc["spec"]["nodeName"] = legacy
    doc["status"] = {"phase": "Running"}
    path = put(crt, "team-48", PODS, "db", doc)
    assert pod_pass(crt, "team-48").phase == "Failed"
    assert condition(crt, path, "PodScheduled")["reason"] == "NameConflict"
    assert warnings(crt, "team-48") == [("NameConflict", "db")]
    assert data(crt, path)["metadata"]["finalizers"] == []
    assert [vm["name"] for vm in resources(compute)["instances"]] == [legacy]

    # team-24's own pod of that era keeps its VM and deletes it when it goes.
    doc["status"] = {"phase": "Running"}
    own = put(crt, "team-24", PODS, "db", doc)
    assert pod_pass(crt, "team-24").phase == "Running"
    delete(crt, own)
    pod_pass(crt, "team-24")
    assert resources(compute)["instances"] == []


def test_an_address_made_by_someone_else_is_left_alone(crt: Runtime, compute: ComputeEmulator) -> None:
    resource = cloud_names.resource_name("fc", load_balancer_name("default", "web"))
    addresses = compute_v1.AddressesClient(**client_kwargs(compute))
    op = addresses.insert_unary(project=crt.settings.project, region=REGION,
                                address_resource=compute_v1.Address(name=resource, description="our office"))
    wait_region(compute, crt.settings.project, op)
    [theirs] = resources(compute)["addresses"]

    path = put(crt, "default", SERVICES, "web", svc())
    result = service_pass(crt, "default")
    assert result.error and "not this load balancer's" in result.error
    ready = condition(crt, path, "LoadBalancerReady")
    assert (ready["status"], ready["reason"]) == ("False", "NameConflict")
    assert warnings(crt) == [("NameConflict", "web")]
    assert resources(compute)["addresses"] == [theirs] and resources(compute)["forwardingRules"] == []

    delete(crt, path)
    service_pass(crt, "default")
    assert not crt.store.client.document(path).get().exists
    assert resources(compute)["addresses"] == [theirs]


def test_a_forwarding_rule_made_by_someone_else_is_left_alone(crt: Runtime, compute: ComputeEmulator) -> None:
    project = crt.settings.project
    resource = cloud_names.resource_name("fc", load_balancer_name("default", "web"))
    pools = compute_v1.TargetPoolsClient(**client_kwargs(compute))
    wait_region(compute, project, pools.insert_unary(project=project, region=REGION,
                                                     target_pool_resource=compute_v1.TargetPool(name="theirs")))
    target = pools.get(project=project, region=REGION, target_pool="theirs").self_link
    rules = compute_v1.ForwardingRulesClient(**client_kwargs(compute))
    rule = compute_v1.ForwardingRule(name=resource, target=target, port_range="6379")
    wait_region(compute, project, rules.insert_unary(project=project, region=REGION, forwarding_rule_resource=rule))
    [theirs] = resources(compute)["forwardingRules"]

    path = put(crt, "default", SERVICES, "web", svc())
    assert service_pass(crt, "default").error
    assert condition(crt, path, "LoadBalancerReady")["reason"] == "NameConflict"
    assert resources(compute)["forwardingRules"] == [theirs]

    delete(crt, path)
    service_pass(crt, "default")
    assert not crt.store.client.document(path).get().exists
    assert resources(compute)["forwardingRules"] == [theirs]
    assert [p["name"] for p in resources(compute)["targetPools"]] == ["theirs"]  # ours went, theirs stays
    assert ("NameConflict", "web") in warnings(crt)


def test_the_passes_make_nothing_over_quota(crt: Runtime, compute: ComputeEmulator) -> None:
    """Cost guards at the pod and service passes (api.quota): a bare pod or a load balancer
    over the namespace's ResourceQuota gets no cloud resource, and says why."""
    put(crt, "default", QUOTAS, "compute", {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute"},
                                            "spec": {"hard": {"pods": 0, "services.loadbalancers": 0}}})
    pod = put(crt, "default", PODS, "db", pod_doc("db", {"app": "db"}))
    assert pod_pass(crt, "default").action == "failed"
    scheduled = condition(crt, pod, "PodScheduled")
    assert scheduled["reason"] == "FailedCreate" and "exceeded quota" in scheduled["message"]
    service = put(crt, "default", SERVICES, "web", svc())
    assert service_pass(crt, "default").error
    ready = condition(crt, service, "LoadBalancerReady")
    assert ready["reason"] == "ExceededQuota" and "exceeded quota" in ready["message"]
    assert all(not items for items in resources(compute).values())


def test_a_service_cannot_take_another_namespaces_load_balancer_ip(crt: Runtime, compute: ComputeEmulator) -> None:
    """team-b's spec.loadBalancerIP is team-a's reserved IP: team-b gets a NameConflict and
    no cloud resource, and team-a's teardown still releases its address."""
    a = put(crt, "team-a", SERVICES, "web", svc())
    ip = service_pass(crt, "team-a").ip
    assert ip
    before = resources(compute)
    doc = svc()
    doc["spec"]["loadBalancerIP"] = ip
    b = put(crt, "team-b", SERVICES, "web", doc)
    result = service_pass(crt, "team-b")
    assert result.error and f"loadBalancerIP {ip}" in result.error
    ready = condition(crt, b, "LoadBalancerReady")
    assert (ready["status"], ready["reason"]) == ("False", "NameConflict")
    assert warnings(crt, "team-b") == [("NameConflict", "web")]
    assert not (data(crt, b)["status"].get("loadBalancer") or {}).get("ingress")
    assert resources(compute) == before  # nothing of team-b's made

    delete(crt, a)
    service_pass(crt, "team-a")
    assert not crt.store.client.document(a).get().exists
    assert all(not items for kind, items in resources(compute).items() if kind != "instances")
    assert warnings(crt, "team-a") == []
