"""The service pass against issue 13's bugs, on the Firestore emulator and the Compute
emulator through the real clients: a whole-document write that switches a Service to
ClusterIP loses its load balancer at once; ``UnsupportedFields`` for fields the Service
model keeps but does not use; ``UpdatedLoadBalancer`` when the hosts change."""

from __future__ import annotations

from typing import Any

from emulator.compute import ComputeEmulator
from functions.controllers.resync import resync_all
from functions.controllers.services import sync_service
from functions.events import DocumentChange, StoredDocument
from functions.handlers import on_service_change
from functions.runtime import Runtime
from functions.store import SERVICES, doc_path
from tests.helpers import wait_for
from tests.integration.test_services import data, lb_names, running_pod, svc_doc, sync, write_svc

PATH = doc_path("default", SERVICES, "front")


def stored(rt: Runtime) -> StoredDocument:
    snapshot = rt.store.client.document(PATH).get()
    return StoredDocument(snapshot.to_dict() or {}, snapshot.create_time, snapshot.update_time)


def change(rt: Runtime, write: Any) -> DocumentChange:
    """Write, and the trigger's event for it (its old and new values)."""
    before = stored(rt) if rt.store.client.document(PATH).get().exists else None
    write()
    after = stored(rt)
    return DocumentChange("updated" if before is not None else "created", PATH, before, after)


def events(rt: Runtime) -> dict[str, dict[str, Any]]:
    found = {}
    for snapshot in rt.store.client.collection("namespaces/default/events").stream():
        event = snapshot.to_dict() or {}
        if event.get("involvedObject", {}).get("kind") == "Service":
            found[event["reason"]] = event
    return found


def cluster_ip(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "front"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "p80", "port": 80}], **spec}}


def calls(compute: ComputeEmulator) -> int:
    return sum(compute.requests().values())


# -- LoadBalancer -> ClusterIP by a whole-document write ------------------------------------


def test_a_whole_document_write_to_cluster_ip_loses_the_load_balancer_at_once(
    cluster: Runtime, compute: ComputeEmulator,
) -> None:
    """Through the real triggers: a Firestore ``set`` (as any client, or an older
    ``kubectl replace``, writes) drops the finalizer and the status with the type."""
    store = cluster.store
    store.client.document(PATH).set(svc_doc())
    wait_for(lambda: data(cluster, PATH).get("status", {}).get("loadBalancer", {}).get("ingress"), timeout=30)
    assert lb_names(compute)
    store.client.document(PATH).set(cluster_ip())
    wait_for(lambda: lb_names(compute) == {}, timeout=30)
    wait_for(lambda: "DeletedLoadBalancer" in events(cluster), timeout=10)


def test_the_old_documents_uid_owns_the_load_balancer(crt: Runtime, compute: ComputeEmulator) -> None:
    """Made by kube_api (a uuid4 ``metadata.uid``), overwritten without it: the load
    balancer's owner is the uid the event's old value carries."""
    doc = svc_doc()
    doc["metadata"]["uid"] = "6f1c1b0e-0000-4000-8000-000000000001"
    write_svc(crt, doc)
    sync(crt)
    assert lb_names(compute)
    reply = on_service_change(change(crt, lambda: crt.store.client.document(PATH).set(cluster_ip())), crt)
    assert reply["action"] == "teardown"
    assert lb_names(compute) == {}
    assert data(crt, PATH)["spec"] == cluster_ip()["spec"]  # the user's spec untouched


def test_a_plain_cluster_ip_service_asks_the_cloud_nothing(crt: Runtime, compute: ComputeEmulator) -> None:
    on_service_change(change(crt, lambda: write_svc(crt, cluster_ip())), crt)
    on_service_change(change(crt, lambda: crt.store.client.document(PATH).update({"spec.ports": [{"port": 81}]})), crt)
    on_service_change(change(crt, lambda: crt.store.client.document(PATH).set(cluster_ip(selector={"app": "x"}))), crt)
    assert calls(compute) == 0


def test_a_lost_event_is_repaired_by_resync(crt: Runtime, compute: ComputeEmulator) -> None:
    """No event (or no handler) saw the switch: resync, which lists the load balancers,
    finds one under the name of a service that holds none, and it goes."""
    write_svc(crt, svc_doc())
    sync(crt)
    crt.store.client.document(PATH).set(cluster_ip())
    sync(crt)  # a pass with no old value: the document alone says nothing
    summary = resync_all(crt, full=False)
    assert summary["errors"] == []
    assert lb_names(compute) == {}


# -- UnsupportedFields -----------------------------------------------------------------------


def test_fields_kept_but_not_used_are_reported_once(crt: Runtime, compute: ComputeEmulator) -> None:
    doc = cluster_ip(externalTrafficPolicy="Local", internalTrafficPolicy="Cluster")
    on_service_change(change(crt, lambda: write_svc(crt, doc)), crt)
    event = events(crt)["UnsupportedFields"]
    assert event["type"] == "Warning"
    assert event["message"] == ("fields not supported, kept but ignored: "
                                "spec.externalTrafficPolicy, spec.internalTrafficPolicy")
    # A change that leaves those fields as they were reports nothing again.
    on_service_change(change(crt, lambda: crt.store.client.document(PATH).update(
        {"metadata.labels": {"tier": "front"}})), crt)
    on_service_change(change(crt, lambda: crt.store.client.document(PATH).update({"spec.ports": [{"port": 81}]})), crt)
    assert events(crt)["UnsupportedFields"]["count"] == 1
    sync_service(crt.store, crt.provider, crt.settings, "default", "front", crt.clock)  # resync's, a pod's pass
    assert events(crt)["UnsupportedFields"]["count"] == 1


def test_a_load_balancer_reports_unsupported_fields_too(crt: Runtime, compute: ComputeEmulator) -> None:
    on_service_change(change(crt, lambda: write_svc(crt, svc_doc(externalTrafficPolicy="Local"))), crt)
    assert events(crt)["UnsupportedFields"]["message"].endswith("spec.externalTrafficPolicy")
    assert "EnsuredLoadBalancer" in events(crt)


# -- UpdatedLoadBalancer ---------------------------------------------------------------------


def test_hosts_changing_is_an_event(crt: Runtime, compute: ComputeEmulator) -> None:
    write_svc(crt, svc_doc())
    running_pod(crt, compute, "web-aaaaa")
    sync(crt)
    assert "UpdatedLoadBalancer" not in events(crt)  # made with its hosts: EnsuredLoadBalancer
    sync(crt)
    assert "UpdatedLoadBalancer" not in events(crt)  # nothing changed
    running_pod(crt, compute, "web-bbbbb")
    sync(crt)
    event = events(crt)["UpdatedLoadBalancer"]
    assert (event["type"], event["message"]) == ("Normal", "Updated load balancer with new hosts")
    sync(crt)
    assert events(crt)["UpdatedLoadBalancer"]["count"] == 1


def test_an_old_value_that_only_wanted_one_costs_one_get(crt: Runtime, compute: ComputeEmulator) -> None:
    """Type LoadBalancer, no finalizer yet (its pass had not run): nothing was made, but a
    pass racing the write may have; one GET of the forwarding rule says no."""
    crt.store.client.document(PATH).set(svc_doc())  # no pass: no finalizer, nothing in the cloud
    compute.faults.reset_counts()
    reply = on_service_change(change(crt, lambda: crt.store.client.document(PATH).set(cluster_ip())), crt)
    assert reply["action"] == "nothing"
    assert compute.requests() == {"forwardingRules.get": 1}


def test_what_a_switch_away_costs(crt: Runtime, compute: ComputeEmulator) -> None:
    """The teardown a whole-document write asks for: each resource read, then deleted
    (forwarding rule first, address last), and the port maps of its members removed."""
    write_svc(crt, svc_doc())
    running_pod(crt, compute, "web-aaaaa")
    sync(crt)
    compute.faults.reset_counts()
    ops = crt.store.ops.snapshot()
    on_service_change(change(crt, lambda: crt.store.client.document(PATH).set(cluster_ip())), crt)
    assert lb_names(compute) == {}
    requests = {k: v for k, v in compute.requests().items() if not k.endswith("Operations.wait")}
    each = {"forwardingRules": 1, "targetPools": 1, "httpHealthChecks": 1, "firewalls": 2, "addresses": 1}
    assert requests == {**{f"{k}.get": n for k, n in each.items()}, **{f"{k}.delete": n for k, n in each.items()},
                        "instances.get": 1, "instances.setMetadata": 1}  # the member's port map removed
    after = crt.store.ops.snapshot()
    assert (after["reads"] - ops["reads"], after["commits"] - ops["commits"]) == (1, 1)  # status + event: one commit
