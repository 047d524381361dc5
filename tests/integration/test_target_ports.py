"""Target ports: the service controller keeps each member VM's port map (``fc-svc-{h}``,
docs/agent-protocol.md) for the agent's iptables redirects.

Real Firestore emulator, the real GCE provider on the Compute emulator; the counts are the
emulator's, per API method.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from emulator.compute import ComputeEmulator
from functions.cloudprovider.names import service_ports_key
from functions.controllers.services import sync_service
from functions.runtime import Runtime
from functions.store import PODS, SERVICES, doc_path
from tests.compute.support import admin
from tests.helpers import pod_doc

ZONE = "us-central1-a"

# kubernetes/examples guestbook-go, as published (guestbook-service.json; the container of
# guestbook-controller.json).
GUESTBOOK_SERVICE = {
    "kind": "Service", "apiVersion": "v1",
    "metadata": {"name": "guestbook", "labels": {"app": "guestbook"}},
    "spec": {"ports": [{"port": 3000, "targetPort": "http-server"}], "selector": {"app": "guestbook"},
             "type": "LoadBalancer"},
}
GUESTBOOK_CONTAINER = {"name": "guestbook", "image": "registry.k8s.io/guestbook:v3",
                       "ports": [{"name": "http-server", "containerPort": 3000}]}


def write_svc(rt: Runtime, doc: dict[str, Any]) -> str:
    path = doc_path("default", SERVICES, doc["metadata"]["name"])
    rt.store.client.document(path).set(doc)
    return path


def svc(name: str, ports: list[dict[str, Any]], app: str = "web") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "selector": {"app": app}, "ports": ports}}


def sync(rt: Runtime, name: str) -> Any:
    return sync_service(rt.store, rt.provider, rt.settings, "default", name, rt.clock)


def running_pod(rt: Runtime, compute: ComputeEmulator, name: str, labels: dict[str, str],
                containers: list[dict[str, Any]] | None = None) -> str:
    """A Running pod whose VM exists in the Compute emulator, labelled as the pod's."""
    from functions.vm_spec import instance_name

    vm = instance_name(rt.settings.cluster, "default", name)
    owner = {"firecontrol-cluster": rt.settings.cluster, "firecontrol-namespace": "default", "firecontrol-pod": name,
             "firecontrol-uid": f"uid-{name}"}
    compute.state.seed_instances(rt.settings.project, ZONE, [vm], owner)
    doc = pod_doc(name, labels)
    if containers is not None:
        doc["spec"]["containers"] = containers
    doc["metadata"].update(uid=f"uid-{name}", finalizers=["firecontrol.io/instance"])
    doc["spec"]["nodeName"] = vm
    doc["status"] = {"phase": "Running"}
    rt.store.client.document(doc_path("default", PODS, name)).set(doc)
    return vm


def vm_metadata(compute: ComputeEmulator, vm: str) -> dict[str, str]:
    [found] = [i for i in compute.state.dump()["resources"]["instances"] if i["name"] == vm]
    return {item["key"]: item["value"] for item in found.get("metadata", {}).get("items", [])}


def pool_hosts(compute: ComputeEmulator) -> list[str]:
    [pool] = compute.state.dump()["resources"]["targetPools"]
    return sorted(link.rsplit("/", 1)[-1] for link in pool.get("instances", []))


def events(rt: Runtime) -> list[dict[str, Any]]:
    return [e.to_dict() or {} for e in rt.store.client.collection("namespaces/default/events").stream()]


def test_guestbook_go_named_target_port_reaches_every_member(crt: Runtime, compute: ComputeEmulator) -> None:
    key = service_ports_key("default", "guestbook")
    write_svc(crt, GUESTBOOK_SERVICE)
    first = running_pod(crt, compute, "guestbook-a", {"app": "guestbook"}, [GUESTBOOK_CONTAINER])
    # Another pod of the service whose http-server is elsewhere: resolved per pod.
    moved = {**GUESTBOOK_CONTAINER, "ports": [{"name": "metrics", "containerPort": 9090},
                                              {"name": "http-server", "containerPort": 8080}]}
    second = running_pod(crt, compute, "guestbook-b", {"app": "guestbook"}, [{"name": "side", "image": "busybox"}, moved])
    sync(crt, "guestbook")  # the finalizer first
    result = sync(crt, "guestbook")
    assert result.action == "ensure" and result.error is None and result.ip
    assert pool_hosts(compute) == sorted([first, second])
    assert vm_metadata(compute, first)[key] == f"tcp {result.ip} 3000 3000"
    assert vm_metadata(compute, second)[key] == f"tcp {result.ip} 3000 8080"


def test_port_80_to_3000_and_a_second_port_by_default_its_own(crt: Runtime, compute: ComputeEmulator) -> None:
    key = service_ports_key("default", "front")
    write_svc(crt, svc("front", [{"name": "http", "port": 80, "targetPort": 3000}, {"name": "alt", "port": 8443}]))
    vm = running_pod(crt, compute, "web-a", {"app": "web"})
    sync(crt, "front")
    ip = sync(crt, "front").ip
    assert vm_metadata(compute, vm)[key] == f"tcp {ip} 80 3000\ntcp {ip} 8443 8443"
    [rule] = compute.state.dump()["resources"]["forwardingRules"]
    assert rule["portRange"] == "80-8443"  # the load balancer still listens on the service ports


def test_a_second_pass_with_nothing_changed_makes_no_metadata_call(crt: Runtime, compute: ComputeEmulator) -> None:
    write_svc(crt, svc("front", [{"port": 80, "targetPort": 8080}]))
    for name in ("web-a", "web-b", "web-c"):
        running_pod(crt, compute, name, {"app": "web"})
    sync(crt, "front")
    sync(crt, "front")
    assert compute.requests().get("instances.setMetadata") == 3
    compute.faults.reset_counts()
    sync(crt, "front")
    calls = compute.requests()
    assert "instances.setMetadata" not in calls and "instances.get" not in calls, calls


def test_a_pod_leaving_the_selector_loses_the_key_and_others_keep_theirs(crt: Runtime, compute: ComputeEmulator) -> None:
    key = service_ports_key("default", "front")
    other_key = service_ports_key("default", "api")
    write_svc(crt, svc("front", [{"port": 80, "targetPort": 8080}]))
    write_svc(crt, svc("api", [{"port": 81}]))  # selects the same pods: two keys on each VM
    staying = running_pod(crt, compute, "web-a", {"app": "web"})
    leaving = running_pod(crt, compute, "web-b", {"app": "web"})
    for name in ("front", "front", "api", "api"):
        sync(crt, name)
    assert key in vm_metadata(compute, leaving) and other_key in vm_metadata(compute, leaving)

    crt.store.client.document(doc_path("default", PODS, "web-b")).update({"metadata.labels": {"app": "other"}})
    compute.faults.reset_counts()
    sync(crt, "front")
    assert key not in vm_metadata(compute, leaving)
    assert other_key in vm_metadata(compute, leaving)  # not this service's: kept
    assert key in vm_metadata(compute, staying)
    assert compute.requests().get("instances.setMetadata") == 1  # only the VM that left
    assert pool_hosts_of(compute, "front") == [staying]


def pool_hosts_of(compute: ComputeEmulator, service: str) -> list[str]:
    pools = compute.state.dump()["resources"]["targetPools"]
    [pool] = [p for p in pools if f'"firecontrol.name": "{service}"' in p["description"]]
    return sorted(link.rsplit("/", 1)[-1] for link in pool.get("instances", []))


def test_teardown_removes_every_key_and_a_vanished_vm_is_no_error(crt: Runtime, compute: ComputeEmulator) -> None:
    key = service_ports_key("default", "front")
    path = write_svc(crt, svc("front", [{"port": 80, "targetPort": 3000}]))
    kept = running_pod(crt, compute, "web-a", {"app": "web"})
    gone = running_pod(crt, compute, "web-b", {"app": "web"})
    sync(crt, "front")
    sync(crt, "front")
    assert key in vm_metadata(compute, kept)
    admin(compute, "DELETE", f"/emulator/projects/{crt.settings.project}/zones/{ZONE}/instances/{gone}")
    crt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC).isoformat()})
    result = sync(crt, "front")
    assert result.action == "teardown" and result.error is None
    assert key not in vm_metadata(compute, kept)
    assert not crt.store.client.document(path).get().exists


def test_type_change_to_cluster_ip_removes_the_keys(crt: Runtime, compute: ComputeEmulator) -> None:
    key = service_ports_key("default", "front")
    path = write_svc(crt, svc("front", [{"port": 80}]))
    vm = running_pod(crt, compute, "web-a", {"app": "web"})
    sync(crt, "front")
    sync(crt, "front")
    assert vm_metadata(compute, vm)[key].endswith(" 80 80")
    crt.store.client.document(path).update({"spec.type": "ClusterIP"})
    assert sync(crt, "front").action == "teardown"
    assert key not in vm_metadata(compute, vm)
    assert "portMap" not in (crt.store.client.document(path).get().to_dict() or {}).get("status", {})


def test_a_pod_without_the_named_port_gets_no_traffic_and_a_warning(crt: Runtime, compute: ComputeEmulator) -> None:
    key = service_ports_key("default", "guestbook")
    write_svc(crt, GUESTBOOK_SERVICE)
    member = running_pod(crt, compute, "guestbook-a", {"app": "guestbook"}, [GUESTBOOK_CONTAINER])
    udp = {**GUESTBOOK_CONTAINER, "ports": [{"name": "http-server", "containerPort": 3000, "protocol": "UDP"}]}
    lacking = running_pod(crt, compute, "guestbook-b", {"app": "guestbook"}, [udp])  # the name, not for TCP
    sync(crt, "guestbook")
    sync(crt, "guestbook")
    assert pool_hosts(compute) == [member]
    assert key in vm_metadata(compute, member) and key not in vm_metadata(compute, lacking)
    warnings = [e for e in events(crt) if e.get("reason") == "NamedPortNotFound"]
    assert len(warnings) == 1 and "guestbook-b (no port 'http-server')" in warnings[0]["message"]
    assert warnings[0]["type"] == "Warning"
    sync(crt, "guestbook")  # nothing new: no second event
    assert [e.get("count", 1) for e in events(crt) if e.get("reason") == "NamedPortNotFound"] == [1]


def test_a_vm_that_is_not_the_pods_is_left_alone(crt: Runtime, compute: ComputeEmulator) -> None:
    """The pod's nodeName names a VM another pod (another uid) owns: no key written there."""
    key = service_ports_key("default", "front")
    write_svc(crt, svc("front", [{"port": 80}]))
    vm = running_pod(crt, compute, "web-a", {"app": "web"})
    crt.store.client.document(doc_path("default", PODS, "web-a")).update({"metadata.uid": "uid-a-new-pod"})
    sync(crt, "front")
    result = sync(crt, "front")
    assert result.error is None
    assert key not in vm_metadata(compute, vm)
    status = (crt.store.client.document(doc_path("default", SERVICES, "front")).get().to_dict() or {})["status"]
    assert status["portMap"]["members"] == []  # not recorded: tried again next pass


def test_a_document_deleted_outright_still_loses_its_keys(crt: Runtime, compute: ComputeEmulator) -> None:
    """No two-phase delete (someone removed the document): the trigger's old document says
    which VMs carry the key."""
    from functions.events import DocumentChange, StoredDocument
    from functions.handlers import on_service_change

    key = service_ports_key("default", "front")
    path = write_svc(crt, svc("front", [{"port": 80, "targetPort": 3000}]))
    vm = running_pod(crt, compute, "web-a", {"app": "web"})
    sync(crt, "front")
    assert key in vm_metadata(compute, vm)
    snapshot = crt.store.client.document(path).get()
    old = StoredDocument(snapshot.to_dict() or {}, snapshot.create_time, snapshot.update_time)
    crt.store.client.document(path).delete()
    assert on_service_change(DocumentChange("deleted", path, old, None), crt) == {"action": "teardown"}
    assert key not in vm_metadata(compute, vm)


def test_a_new_member_gets_its_redirect_before_it_joins_the_pool(crt: Runtime, compute: ComputeEmulator) -> None:
    """With the load balancer's IP known, a pod that joins gets its port map first and its
    place in the pool after, so no packet reaches it before its redirect exists; one that
    leaves keeps its redirect until it is out of the pool."""
    from dataclasses import replace

    import pytest

    from functions.cloudprovider import TemporaryError
    from functions.controllers.services import sync_service
    from tests.helpers import CrashBefore

    key = service_ports_key("default", "front")
    write_svc(crt, svc("front", [{"port": 80, "targetPort": 3000}]))
    old_vm = running_pod(crt, compute, "web-a", {"app": "web"})
    sync(crt, "front")
    ip = sync(crt, "front").ip
    new_vm = running_pod(crt, compute, "web-b", {"app": "web"})
    crt.store.client.document(doc_path("default", PODS, "web-a")).update({"metadata.labels": {"app": "gone"}})
    broken = replace(crt, cloud=CrashBefore(crt.provider, "ensure_load_balancer"))  # type: ignore[arg-type]
    with pytest.raises(TemporaryError, match="killed before ensure_load_balancer"):  # the pass dies there
        sync_service(broken.store, broken.provider, broken.settings, "default", "front", broken.clock)
    assert vm_metadata(compute, new_vm)[key] == f"tcp {ip} 80 3000"  # its redirect first ...
    assert pool_hosts(compute) == [old_vm]  # ... while it is not yet in the pool
    assert vm_metadata(compute, old_vm)[key] == f"tcp {ip} 80 3000"  # the leaver keeps it while pooled
    sync(crt, "front")
    assert pool_hosts(compute) == [new_vm] and key not in vm_metadata(compute, old_vm)
