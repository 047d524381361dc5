"""The sync pass against the real Firestore emulator: the Kubernetes behaviours, re-expressed."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.controllers.replica_kinds import controller_uid, owner_ref
from functions.controllers.replication import sync_controller
from functions.events import DocumentChange, StoredDocument
from functions.handlers import on_controller_change
from functions.runtime import Runtime
from functions.store import CONTROLLERS, PODS, doc_path
from tests.helpers import active, fixture, pod_doc, pods, rc_data, rc_doc, write_rc


def sync(rt: Runtime, name: str) -> None:
    sync_controller(rt.store, rt.settings, "default", name, rt.clock)


def failure(data: dict[str, object]) -> dict[str, object] | None:
    status = data.get("status")
    assert isinstance(status, dict)
    return next((c for c in status.get("conditions", []) if c["type"] == "ReplicaFailure"), None)


def test_create_scale_up_and_down(rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 3))
    sync(rt, "web")
    created = active(rt.store)
    assert len(created) == 3
    assert all(p.name.startswith("web-") and len(p.name) == len("web-") + 5 for p in created)
    data = rc_data(rt.store, "web")
    assert data["status"]["replicas"] == 3
    uid = data["metadata"]["uid"]
    assert all(p.controller_ref() == owner_ref("web", uid) for p in created)

    rt.store.client.document(doc_path("default", CONTROLLERS, "web")).update({"spec.replicas": 5})
    sync(rt, "web")
    assert len(active(rt.store)) == 5

    rt.store.client.document(doc_path("default", CONTROLLERS, "web")).update({"spec.replicas": 1})
    sync(rt, "web")
    remaining = active(rt.store)
    assert len(remaining) == 1
    # Born with the VM finalizer: marked for the pod runtime, which deletes VM then document.
    leaving = [p for p in pods(rt.store) if p.being_deleted]
    assert len(pods(rt.store)) == 5 and len(leaving) == 4
    assert rc_data(rt.store, "web")["status"]["replicas"] == 1


def test_pass_with_nothing_to_do_writes_nothing(rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 2))
    sync(rt, "web")
    before = rt.store.ops.snapshot()
    sync(rt, "web")
    after = rt.store.ops.snapshot()
    assert after["writes"] == before["writes"] and after["commits"] == before["commits"]
    assert after["reads"] - before["reads"] == 3  # the controller and its two pods


def test_scale_down_keeps_running_and_ready_pods(rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 4))
    sync(rt, "web")
    names = sorted(p.name for p in active(rt.store))
    now = datetime.now(UTC)
    running = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}
    for name in names[:2]:
        rt.store.client.document(doc_path("default", PODS, name)).update(
            {"status": running, "spec.nodeName": f"vm-{name}"}
        )
    rt.store.client.document(doc_path("default", CONTROLLERS, "web")).update({"spec.replicas": 2})
    sync(rt, "web")
    assert sorted(p.name for p in active(rt.store)) == names[:2]


def test_delete_cascades_to_pods(rt: Runtime) -> None:
    path = write_rc(rt.store, rc_doc("web", 3))
    sync(rt, "web")
    snapshot = rt.store.client.document(path).get()
    old = StoredDocument(snapshot.to_dict() or {}, snapshot.create_time, snapshot.update_time)
    rt.store.client.document(path).delete()
    result = on_controller_change(DocumentChange("deleted", path, old, None), rt)
    assert result == {"action": "cascade", "deleted": 3}
    # Each holds the VM finalizer: marked, for the pod runtime to delete VM then document.
    assert len(pods(rt.store)) == 3 and all(p.being_deleted for p in pods(rt.store))


def test_pods_with_finalizers_are_marked_not_deleted(rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 2))
    sync(rt, "web")
    for pod in pods(rt.store):
        rt.store.client.document(pod.path).update({"metadata.finalizers": ["firecontrol.io/instance"]})
    rt.store.client.document(doc_path("default", CONTROLLERS, "web")).update({"spec.replicas": 0})
    sync(rt, "web")
    left = pods(rt.store)
    assert len(left) == 2 and all(p.being_deleted for p in left)
    assert active(rt.store) == []


def test_observed_generation_follows_spec_changes(rt: Runtime) -> None:
    path = write_rc(rt.store, rc_doc("web", 1))
    sync(rt, "web")
    data = rc_data(rt.store, "web")
    assert data["metadata"]["generation"] == 1 and data["status"]["observedGeneration"] == 1
    rt.store.client.document(path).update({"spec.replicas": 2})
    sync(rt, "web")
    sync(rt, "web")  # a second pass over the same spec does not advance it again
    data = rc_data(rt.store, "web")
    assert data["metadata"]["generation"] == 2 and data["status"]["observedGeneration"] == 2
    rt.store.client.document(path).update({"metadata.labels": {"tier": "front"}})
    sync(rt, "web")
    assert rc_data(rt.store, "web")["metadata"]["generation"] == 2  # labels are not spec


def test_adopts_matching_orphan_on_creation(rt: Runtime) -> None:
    rt.store.client.document(doc_path("default", PODS, "orphan")).set(pod_doc("orphan", {"app": "web"}))
    write_rc(rt.store, rc_doc("web", 1))
    sync(rt, "web")
    [pod] = pods(rt.store)
    assert pod.name == "orphan"
    assert pod.controller_ref() == owner_ref("web", rc_data(rt.store, "web")["metadata"]["uid"])


def test_releases_pod_whose_labels_stop_matching_and_replaces_it(rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 1))
    sync(rt, "web")
    [pod] = pods(rt.store)
    rt.store.client.document(pod.path).update({"metadata.labels": {"app": "debug"}})
    sync(rt, "web")
    by_name = {p.name: p for p in pods(rt.store)}
    assert len(by_name) == 2
    assert by_name[pod.name].controller_ref() is None  # kept, ownerless
    [replacement] = [p for n, p in by_name.items() if n != pod.name]
    assert replacement.labels == {"app": "web"} and replacement.controller_ref() is not None


def test_leaves_pod_owned_by_another_controller_alone(rt: Runtime) -> None:
    theirs = owner_ref("other", "0000-other-uid")
    doc = pod_doc("taken", {"app": "web"})
    doc["metadata"]["ownerReferences"] = [theirs]
    rt.store.client.document(doc_path("default", PODS, "taken")).set(doc)
    write_rc(rt.store, rc_doc("web", 1))
    sync(rt, "web")
    by_name = {p.name: p for p in pods(rt.store)}
    assert by_name["taken"].owner_references == [theirs]
    assert len(by_name) == 2


def test_failed_and_terminating_pods_do_not_count(rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 2))
    sync(rt, "web")
    first, second = pods(rt.store)
    rt.store.client.document(first.path).update({"status.phase": "Failed"})
    rt.store.client.document(second.path).update(
        {"metadata.deletionTimestamp": datetime.now(UTC), "metadata.finalizers": ["x/y"]}
    )
    sync(rt, "web")
    assert len(active(rt.store)) == 2
    assert len(pods(rt.store)) == 4


def test_replica_cap_sets_condition_then_clears(rt: Runtime) -> None:
    path = write_rc(rt.store, rc_doc("web", 500))
    sync(rt, "web")
    assert pods(rt.store) == []
    condition = failure(rc_data(rt.store, "web"))
    assert condition is not None and condition["reason"] == "InvalidSpec"
    assert "cap of 100" in str(condition["message"])
    events = [e.to_dict() for e in rt.store.client.collection("namespaces/default/events").stream()]
    assert [e["reason"] for e in events] == ["InvalidSpec"]
    assert events[0]["involvedObject"]["name"] == "web" and events[0]["type"] == "Warning"

    sync(rt, "web")  # the same failure again writes nothing new
    assert len(list(rt.store.client.collection("namespaces/default/events").stream())) == 1

    rt.store.client.document(path).update({"spec.replicas": 4})
    sync(rt, "web")
    assert failure(rc_data(rt.store, "web")) is None
    assert len(active(rt.store)) == 4


def test_events_are_counted_not_duplicated(rt: Runtime) -> None:
    path = write_rc(rt.store, rc_doc("web", 500))
    sync(rt, "web")
    rt.store.client.document(path).update({"spec.replicas": 1})
    sync(rt, "web")
    for _ in range(2):
        rt.store.client.document(path).update({"spec.replicas": 500})
        sync(rt, "web")
        rt.store.client.document(path).update({"spec.replicas": 1})
        sync(rt, "web")
    invalid = [
        e.to_dict() for e in rt.store.client.collection("namespaces/default/events").stream()
        if (e.to_dict() or {})["reason"] == "InvalidSpec"
    ]
    assert len(invalid) == 1 and invalid[0]["count"] == 3


def test_real_v1_manifest_and_2014_shape(rt: Runtime) -> None:
    write_rc(rt.store, fixture("rc-v1.yaml"))
    sync(rt, "nginx")
    assert len(active(rt.store)) == 3

    # The July 2014 file asks for hostPort 8080 on containerPort 80: honoured (the agent
    # redirects the VM's port 8080 to the container's 80), the controller synced as it is.
    legacy_rc = fixture("rc-2014.json")
    path = doc_path("legacy", CONTROLLERS, "nginx-controller")
    rt.store.client.document(path).set(legacy_rc)
    sync_controller(rt.store, rt.settings, "legacy", "nginx-controller", rt.clock)
    legacy = active(rt.store, "legacy")
    assert len(legacy) == 2
    assert all(p.labels == {"name": "nginx"} for p in legacy)
    stored = rt.store.client.document(legacy[0].path).get().to_dict() or {}
    assert stored["spec"]["containers"][0]["image"] == "dockerfile/nginx"
    assert stored["spec"]["containers"][0]["ports"][0] == {"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}
    data = rc_data(rt.store, "nginx-controller", "legacy")
    assert "desiredState" in data and "spec" not in data  # the user's document is not rewritten
    # a second pass reads its own writes back and finds nothing to do
    sync_controller(rt.store, rt.settings, "legacy", "nginx-controller", rt.clock)
    assert len(pods(rt.store, "legacy")) == 2


def test_uid_is_stable_across_overwrites_and_new_on_recreate(rt: Runtime) -> None:
    path = write_rc(rt.store, rc_doc("web", 1))
    sync(rt, "web")
    uid = rc_data(rt.store, "web")["metadata"]["uid"]
    rt.store.client.document(path).set(rc_doc("web", 1))  # a user overwrite without uid
    sync(rt, "web")
    assert rc_data(rt.store, "web")["metadata"]["uid"] == uid
    assert len(pods(rt.store)) == 1
    snapshot = rt.store.client.document(path).get()
    assert controller_uid(path, snapshot.create_time) == uid
