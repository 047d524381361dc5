"""Service lifecycle on the Firestore emulator plus the Compute Engine emulator.

The provider is the real GCE implementation driving the real google-cloud-compute
client over HTTP; nothing is mocked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from functions.controllers.services import FINALIZER, sync_service
from functions.events import DocumentChange, StoredDocument
from functions.handlers import on_service_change
from functions.runtime import Runtime
from functions.store import PODS, SERVICES, doc_path
from tests.helpers import pod_doc, wait_for

ZONE = "us-central1-a"


def svc_doc(name: str = "front", ports: list[int] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [{"name": f"p{p}", "port": p} for p in (ports or [80])],
            **spec,
        },
    }


def write_svc(rt: Runtime, doc: dict[str, Any]) -> str:
    path = doc_path("default", SERVICES, doc["metadata"]["name"] if "metadata" in doc else doc["id"])
    rt.store.client.document(path).set(doc)
    return path


def sync(rt: Runtime, name: str = "front") -> Any:
    return sync_service(rt.store, rt.provider, rt.settings, "default", name, rt.clock)


def data(rt: Runtime, path: str) -> dict[str, Any]:
    return rt.store.client.document(path).get().to_dict() or {}


def resources(compute: ComputeEmulator) -> dict[str, list[dict[str, Any]]]:
    dump = compute.state.dump()["resources"]
    return {kind: items for kind, items in dump.items() if kind != "instances"}


def lb_names(compute: ComputeEmulator) -> dict[str, list[str]]:
    return {kind: [r["name"] for r in items] for kind, items in resources(compute).items() if items}


def ingress(rt: Runtime, path: str) -> list[str]:
    return [i.get("ip") for i in data(rt, path).get("status", {}).get("loadBalancer", {}).get("ingress", [])]


def running_pod(rt: Runtime, compute: ComputeEmulator, name: str, labels: dict[str, str] | None = None) -> str:
    """A Running pod whose VM exists in the Compute emulator."""
    from functions.vm_spec import instance_name

    vm = instance_name(rt.settings.cluster, "default", name)
    owner = {"firecontrol-cluster": rt.settings.cluster, "firecontrol-namespace": "default", "firecontrol-pod": name,
             "firecontrol-uid": f"uid-{name}"}
    compute.state.seed_instances(rt.settings.project, ZONE, [vm], owner)
    doc = pod_doc(name, labels or {"app": "web"})
    doc["metadata"].update(uid=f"uid-{name}", finalizers=["firecontrol.io/instance"])  # as the pod pass made it
    doc["spec"]["nodeName"] = vm
    doc["status"] = {"phase": "Running"}
    rt.store.client.document(doc_path("default", PODS, name)).set(doc)
    return vm


def pool_hosts(compute: ComputeEmulator) -> list[str]:
    [pool] = resources(compute)["targetPools"]
    return sorted(url.rsplit("/", 1)[1] for url in pool.get("instances", []))


def test_service_before_pods_gets_its_ip_at_once(crt: Runtime, compute: ComputeEmulator) -> None:
    path = write_svc(crt, svc_doc())
    result = sync(crt)
    assert result.action == "ensure" and result.ip and result.ip.startswith("203.0.113.")
    assert ingress(crt, path) == [result.ip]
    assert data(crt, path)["metadata"]["finalizers"] == [FINALIZER]
    assert pool_hosts(compute) == []
    [rule] = resources(compute)["forwardingRules"]
    assert rule["IPAddress"] == result.ip and rule["portRange"] == "80-80"
    [condition] = data(crt, path)["status"]["conditions"]
    assert (condition["type"], condition["status"]) == ("LoadBalancerReady", "True")


def test_hosts_follow_running_pods(crt: Runtime, compute: ComputeEmulator) -> None:
    write_svc(crt, svc_doc())
    sync(crt)
    first = running_pod(crt, compute, "web-aaaaa")
    second = running_pod(crt, compute, "web-bbbbb")
    running_pod(crt, compute, "other-ccccc", {"app": "other"})
    sync(crt)
    assert pool_hosts(compute) == sorted([first, second])
    crt.store.client.document(doc_path("default", PODS, "web-aaaaa")).update({"status.phase": "Failed"})
    sync(crt)
    assert pool_hosts(compute) == [second]


def test_selector_and_port_change_keep_the_ip(crt: Runtime, compute: ComputeEmulator) -> None:
    path = write_svc(crt, svc_doc())
    ip = sync(crt).ip
    vm = running_pod(crt, compute, "api-aaaaa", {"app": "api"})
    crt.store.client.document(path).update({"spec.selector": {"app": "api"}, "spec.ports": [{"name": "h", "port": 8080}]})
    assert sync(crt).ip == ip
    [rule] = resources(compute)["forwardingRules"]
    assert rule["IPAddress"] == ip and rule["portRange"] == "8080-8080"
    assert pool_hosts(compute) == [vm]
    assert ingress(crt, path) == [ip]


def test_switch_away_from_load_balancer_and_back(crt: Runtime, compute: ComputeEmulator) -> None:
    path = write_svc(crt, svc_doc())
    ip = sync(crt).ip
    crt.store.client.document(path).update({"spec.type": "ClusterIP"})
    assert sync(crt).action == "teardown"
    stored = data(crt, path)
    assert stored["metadata"]["finalizers"] == [] and ingress(crt, path) == []
    assert not [r for r in resources(compute)["forwardingRules"] if r["IPAddress"] == ip]
    assert lb_names(compute) == {}
    events = {e.to_dict()["reason"] for e in crt.store.client.collection("namespaces/default/events").stream()}  # type: ignore[index]
    assert {"EnsuredLoadBalancer", "DeletedLoadBalancer"} <= events

    crt.store.client.document(path).update({"spec.type": "LoadBalancer"})
    again = sync(crt).ip
    assert again and ingress(crt, path) == [again]
    assert data(crt, path)["metadata"]["finalizers"] == [FINALIZER]


def test_two_phase_delete_leaves_nothing(crt: Runtime, compute: ComputeEmulator) -> None:
    path = write_svc(crt, svc_doc(ports=[80, 443]))
    running_pod(crt, compute, "web-aaaaa")
    sync(crt)
    assert len(lb_names(compute)) == 5
    crt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    assert sync(crt).action == "teardown"
    assert lb_names(compute) == {}
    assert not crt.store.client.document(path).get().exists


def test_document_deleted_outright_still_loses_its_load_balancer(crt: Runtime, compute: ComputeEmulator) -> None:
    path = write_svc(crt, svc_doc())
    sync(crt)
    snapshot = crt.store.client.document(path).get()
    old = StoredDocument(snapshot.to_dict() or {}, snapshot.create_time, snapshot.update_time)
    crt.store.client.document(path).delete()
    assert on_service_change(DocumentChange("deleted", path, old, None), crt) == {"action": "teardown"}
    assert lb_names(compute) == {}


def test_user_reserved_address_is_used_and_survives(crt: Runtime, compute: ComputeEmulator) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    addresses = compute_v1.AddressesClient(
        credentials=AnonymousCredentials(), client_options={"api_endpoint": compute.url}, transport="rest"
    )
    addresses.insert_unary(project=crt.settings.project, region="us-central1", address_resource=compute_v1.Address(name="my-ip"))
    reserved = wait_address(addresses, crt.settings.project)
    path = write_svc(crt, svc_doc(loadBalancerIP=reserved))
    assert sync(crt).ip == reserved
    crt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    sync(crt)
    assert lb_names(compute) == {"addresses": ["my-ip"]}


def wait_address(client: Any, project: str) -> str:
    import time

    from google.api_core.exceptions import NotFound

    for _ in range(200):
        try:
            address = client.get(project=project, region="us-central1", address="my-ip").address
        except NotFound:  # the insert operation is not done yet
            address = None
        if address:
            return str(address)
        time.sleep(0.01)
    raise AssertionError("the reserved address never got an IP")


def test_2014_create_external_load_balancer(crt: Runtime, compute: ComputeEmulator) -> None:
    doc = {"id": "front", "kind": "Service", "apiVersion": "v1beta1", "port": 8000,
           "selector": {"name": "frontend"}, "createExternalLoadBalancer": True}
    path = write_svc(crt, doc)
    ip = sync(crt).ip
    assert ip and ingress(crt, path) == [ip]
    [rule] = resources(compute)["forwardingRules"]
    assert rule["portRange"] == "8000-8000"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"ports": [{"port": 0}]}, "spec.ports[0].port: Input should be greater than or equal to 1"),
        ({"ports": [{"port": 70000}]}, "spec.ports[0].port"),
        ({"ports": [{"port": 80, "protocol": "SCTP"}]}, "spec.ports[0].protocol"),
        ({"ports": [{"port": "http"}]}, "spec.ports[0].port: Input should be a valid integer"),
        ({"ports": []}, "spec.ports: a LoadBalancer service needs at least one port"),
        ({"selector": {}}, "spec.selector: a LoadBalancer service needs a selector"),
        ({"selector": {"app": "$(reboot)"}}, "spec.selector: label value '$(reboot)'"),
        ({"loadBalancerIP": "not-an-ip"}, "spec.loadBalancerIP: 'not-an-ip' is not an IPv4 address"),
        ({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 53, "protocol": "UDP"}]}, "spec.ports: one load balancer serves one protocol"),
        ({"ports": [{"port": 80, "targetPort": "HTTP"}]}, "spec.ports[0].targetPort: 'HTTP' must consist of lower-case"),
        ({"ports": [{"port": 80, "targetPort": "web--server"}]}, "spec.ports[0].targetPort: 'web--server' must not"),
        ({"ports": [{"port": 80, "targetPort": 0}]}, "spec.ports[0].targetPort: 0 is not a port number"),
        ({"type": "External"}, "spec.type: Input should be 'ClusterIP', 'NodePort' or 'LoadBalancer'"),
    ],
)
def test_malformed_service_gets_a_condition_and_no_compute_call(
    crt: Runtime, compute: ComputeEmulator, spec: dict[str, Any], message: str
) -> None:
    doc = svc_doc()
    doc["spec"].update(spec)
    path = write_svc(crt, doc)
    assert sync(crt).action == "invalid"
    assert compute.requests() == {} or sum(compute.requests().values()) == 0
    [condition] = data(crt, path)["status"]["conditions"]
    assert (condition["status"], condition["reason"]) == ("False", "InvalidSpec")
    assert condition["message"].startswith(message), condition["message"]
    assert "finalizers" not in data(crt, path)["metadata"]


@pytest.mark.parametrize("name", ["Front", "front_1", "x" * 41])
def test_malformed_service_name(crt: Runtime, compute: ComputeEmulator, name: str) -> None:
    doc = svc_doc(name)
    write_svc(crt, doc)
    assert sync(crt, name).action == "invalid"
    assert sum(compute.requests().values()) == 0


def test_resync_repairs_hosts_and_a_load_balancer_deleted_behind_our_back(crt: Runtime, compute: ComputeEmulator) -> None:
    from functions.controllers.resync import resync_all

    path = write_svc(crt, svc_doc())
    write_svc(crt, {"metadata": {"name": "internal"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    ip = sync(crt).ip
    vm = running_pod(crt, compute, "web-aaaaa")  # no event reached the service
    summary = resync_all(crt)
    assert summary["services"] == 1 and summary["errors"] == []  # the ClusterIP service is not touched
    assert pool_hosts(compute) == [vm]

    [rule] = resources(compute)["forwardingRules"]
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    rules = compute_v1.ForwardingRulesClient(
        credentials=AnonymousCredentials(), client_options={"api_endpoint": compute.url}, transport="rest"
    )
    rules.delete_unary(project=crt.settings.project, region="us-central1", forwarding_rule=rule["name"])
    wait_for(lambda: not resources(compute)["forwardingRules"], timeout=10, interval=0.01)
    resync_all(crt)
    [repaired] = resources(compute)["forwardingRules"]
    assert repaired["IPAddress"] == ip and ingress(crt, path) == [ip]
