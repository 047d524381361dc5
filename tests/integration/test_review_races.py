"""Races and trust found in review: each test stages the interleaving that used to go wrong."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from emulator.compute import ComputeEmulator
from functions.controllers.pods import sync_pod
from functions.controllers.replication import sync_controller
from functions.controllers.resync import resync_all
from functions.controllers.services import FINALIZER as LB_FINALIZER
from functions.controllers.services import sync_service
from functions.events import DocumentChange, StoredDocument
from functions.handlers import on_service_change
from functions.runtime import Runtime
from functions.store import CONTROLLERS, PODS, SERVICES, Store, doc_path
from functions.vm_spec import instance_name
from tests.helpers import active, pod_doc, pods, rc_doc, write_rc


def resources(compute: ComputeEmulator, kind: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = compute.state.dump()["resources"][kind]
    return items


class Interleaved(Store):
    """The real store, running ``act`` once, right after the sweep first reads one of ``kinds``."""

    def __init__(self, real: Store, kinds: set[str], act: Any) -> None:
        super().__init__(real.client)
        self.kinds, self.act = kinds, act

    def all_of_kind(self, collection: str) -> list[Any]:
        docs = super().all_of_kind(collection)
        if collection in self.kinds and self.act:
            self.act, act = None, self.act
            act()
        return docs


def test_a_scale_between_the_sweeps_reads_neither_overshoots_nor_undershoots(crt: Runtime) -> None:
    """Between the sweep's reads of controllers and of pods (in whichever order), a scale
    from 3 to 6 and its pass land. The sweep's pass over what it read must fail its
    guarded commit and re-read, not create 3 more or delete 3."""
    rt = replace(crt, settings=replace(crt.settings, slow_start=False))
    write_rc(rt.store, rc_doc("web", 3))
    sync_controller(rt.store, rt.settings, "default", "web", rt.clock)
    path = doc_path("default", CONTROLLERS, "web")

    def scale_to_six() -> None:
        rt.store.client.document(path).update({"spec.replicas": 6})
        sync_controller(rt.store, rt.settings, "default", "web", rt.clock)

    summary = resync_all(replace(rt, store=Interleaved(rt.store, {CONTROLLERS, PODS}, scale_to_six)))
    assert summary["errors"] == []
    live = active(rt.store)
    assert len(live) == 6 and not [p for p in pods(rt.store) if p.being_deleted]


def test_a_load_balancer_made_during_a_sweep_is_not_taken_for_an_orphan(crt: Runtime, compute: ComputeEmulator) -> None:
    def new_service() -> None:
        doc = {"metadata": {"name": "late"}, "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 80}]}}
        crt.store.client.document(doc_path("default", SERVICES, "late")).set(doc)
        assert sync_service(crt.store, crt.provider, crt.settings, "default", "late", crt.clock).ip

    summary = resync_all(replace(crt, store=Interleaved(crt.store, {SERVICES}, new_service)))
    assert summary["loadBalancersDeleted"] == 0 and summary["errors"] == []
    assert len(resources(compute, "forwardingRules")) == 1 and len(resources(compute, "addresses")) == 1


def test_a_late_delete_event_spares_the_recreated_services_load_balancer(crt: Runtime, compute: ComputeEmulator) -> None:
    path = doc_path("default", SERVICES, "front")
    doc = {"metadata": {"name": "front"}, "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 80}]}}
    crt.store.client.document(path).set(doc)
    ip = sync_service(crt.store, crt.provider, crt.settings, "default", "front", crt.clock).ip
    stored = crt.store.get(path)
    assert stored is not None
    # The delete event carries the deleted document with its create time (its uid).
    old = StoredDocument({**doc, "metadata": {"name": "front", "finalizers": [LB_FINALIZER]}},
                         stored.create_time, stored.update_time)
    # The first "front" was deleted outright and made again; its delete event comes now.
    result = on_service_change(DocumentChange("deleted", path, old, None), crt)
    assert result == {"action": "skipped"}
    [rule] = resources(compute, "forwardingRules")
    assert rule["IPAddress"] == ip

    crt.store.client.document(path).delete()  # gone for good: the same event tears down
    assert on_service_change(DocumentChange("deleted", path, old, None), crt) == {"action": "teardown"}
    assert resources(compute, "forwardingRules") == [] and resources(compute, "addresses") == []


def test_a_node_name_set_by_the_user_is_refused(crt: Runtime, compute: ComputeEmulator) -> None:
    """A pod must not claim a VM it did not make (its service would send traffic there)."""
    compute.state.seed_instances(crt.settings.project, "us-central1-a", ["someone-elses-vm"], {})
    doc = pod_doc("solo", {"app": "web"})
    doc["spec"]["nodeName"] = "someone-elses-vm"
    crt.store.client.document(doc_path("default", PODS, "solo")).set(doc)
    result = sync_pod(crt.store, crt.provider, crt.settings, "default", "solo", crt.clock)
    assert result.action == "invalid" and "spec.nodeName: 'someone-elses-vm' is not this pod's VM" in (result.error or "")
    assert [vm["name"] for vm in resources(compute, "instances")] == ["someone-elses-vm"]
    assert "instances.insert" not in compute.requests() and "instances.delete" not in compute.requests()


def test_the_zone_annotation_places_the_vm_its_service_reaches_it_and_a_bad_one_is_refused(
    crt: Runtime, compute: ComputeEmulator
) -> None:
    rt = replace(crt, settings=replace(crt.settings, pod_start_timeout=5.0))
    doc = pod_doc("east", {"app": "web"})
    doc["metadata"]["annotations"] = {"firecontrol.io/zone": "us-central1-b"}
    path = doc_path("default", PODS, "east")
    rt.store.client.document(path).set(doc)
    while sync_pod(rt.store, rt.provider, rt.settings, "default", "east", rt.clock).phase != "Running":
        pass
    [vm] = resources(compute, "instances")
    name = instance_name(rt.settings.cluster, "default", "east")
    assert vm["name"] == name and vm["zone"].endswith("/zones/us-central1-b")
    svc = {"metadata": {"name": "front"}, "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}
    rt.store.client.document(doc_path("default", SERVICES, "front")).set(svc)
    for _ in range(2):  # finalizer, then the load balancer
        sync_service(rt.store, rt.provider, rt.settings, "default", "front", rt.clock)
    [pool] = resources(compute, "targetPools")
    assert [url.split("/zones/", 1)[1] for url in pool["instances"]] == [f"us-central1-b/instances/{name}"]

    # The annotation edited afterwards: the VM is where it was made, and is found there.
    rt.store.client.document(path).update({"metadata.annotations": {"firecontrol.io/zone": "us-central1-c"}})
    assert sync_pod(rt.store, rt.provider, rt.settings, "default", "east", rt.clock).phase == "Running"
    rt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    assert sync_pod(rt.store, rt.provider, rt.settings, "default", "east", rt.clock).action == "deleted"
    assert resources(compute, "instances") == []

    for zone, says in (("../../global/x; rm -rf /", "is not a zone such as 'us-central1-a'"),
                       ("us-east1-b", "is not in this installation's region 'us-central1'")):
        bad = pod_doc("odd", {"app": "web"})
        bad["metadata"]["annotations"] = {"firecontrol.io/zone": zone}
        rt.store.client.document(doc_path("default", PODS, "odd")).set(bad)
        result = sync_pod(rt.store, rt.provider, rt.settings, "default", "odd", rt.clock)
        assert result.action == "invalid" and says in (result.error or ""), result.error
    assert resources(compute, "instances") == []


def test_a_garbled_status_is_rewritten_not_taken_for_a_bad_pod(crt: Runtime, compute: ComputeEmulator) -> None:
    """Status is the functions' own: a string or float where an int belongs costs the pod
    nothing, and a pass writes it right again (an idle tick can then trust the sums)."""
    rt = replace(crt, settings=replace(crt.settings, pod_start_timeout=5.0))
    path = doc_path("default", PODS, "solo")
    rt.store.client.document(path).set(pod_doc("solo", {"app": "web"}))
    while sync_pod(rt.store, rt.provider, rt.settings, "default", "solo", rt.clock).phase != "Running":
        pass
    good = (rt.store.client.document(path).get().to_dict() or {})["status"]["vmFingerprint"]
    for garbled in ("x", float(good)):
        rt.store.client.document(path).update({"status.vmFingerprint": garbled})
        result = sync_pod(rt.store, rt.provider, rt.settings, "default", "solo", rt.clock)
        assert result.phase == "Running", result
        stored = (rt.store.client.document(path).get().to_dict() or {})["status"]["vmFingerprint"]
        assert stored == good and isinstance(stored, int)
    assert [vm["status"] for vm in resources(compute, "instances")] == ["RUNNING"]


class FirstPodQueryThen(Store):
    """The real store; ``act`` runs once, right after the first pod query answers."""

    def __init__(self, real: Store, act: Any) -> None:
        super().__init__(real.client)
        self.act = act

    def pods_matching_or_owned(self, *args: Any, **kwargs: Any) -> list[Any]:
        docs = super().pods_matching_or_owned(*args, **kwargs)
        if self.act:
            self.act, act = None, self.act
            act()
        return docs


def test_a_service_pass_that_read_older_pods_does_not_have_the_last_word(crt: Runtime, compute: ComputeEmulator) -> None:
    """Pass 1 reads pod b Pending; b turns Running and pass 2 adds it; pass 1 then writes
    its older hosts. Re-reading after its write, pass 1 puts b back."""
    zone = "us-central1-a"
    names = {n: instance_name(crt.settings.cluster, "default", n) for n in ("a", "b")}
    compute.state.seed_instances(crt.settings.project, zone, list(names.values()), {})
    for pod, phase in (("a", "Running"), ("b", "Pending")):
        doc = pod_doc(pod, {"app": "web"})
        doc["spec"]["nodeName"] = names[pod]
        doc["status"] = {"phase": phase}
        crt.store.client.document(doc_path("default", PODS, pod)).set(doc)
    svc = {"metadata": {"name": "front"}, "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}
    crt.store.client.document(doc_path("default", SERVICES, "front")).set(svc)
    sync_service(crt.store, crt.provider, crt.settings, "default", "front", crt.clock)  # finalizer, pool [a]

    def b_runs_and_pass_two_adds_it() -> None:
        crt.store.client.document(doc_path("default", PODS, "b")).update({"status.phase": "Running"})
        sync_service(crt.store, crt.provider, crt.settings, "default", "front", crt.clock)
        assert pool() == sorted(names.values())

    def pool() -> list[str]:
        [target] = resources(compute, "targetPools")
        return sorted(url.rsplit("/", 1)[1] for url in target.get("instances", []))

    racing = replace(crt, store=FirstPodQueryThen(crt.store, b_runs_and_pass_two_adds_it))
    sync_service(racing.store, racing.provider, racing.settings, "default", "front", racing.clock)
    assert pool() == sorted(names.values())
