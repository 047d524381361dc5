"""ReplicaSets (apps/v1) through the same sync pass, against the real Firestore emulator
(and the Compute emulator where pods get VMs): the replication controller's guarantees,
with LabelSelectors."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from emulator.compute import ComputeEmulator
from functions.controllers.pods import sync_pod
from functions.controllers.propagation import cascade_delete
from functions.controllers.replica_kinds import (
    REPLICA_SET,
    REPLICATION_CONTROLLER,
    ControllerKind,
    controller_uid,
    owner_ref,
)
from functions.controllers.replication import pods_at_rest, sync_controller
from functions.controllers.resync import resync_all
from functions.runtime import Runtime
from functions.store import (
    CONTROLLERS,
    DEPLOYMENTS,
    PODS,
    QUOTAS,
    REPLICA_SETS,
    Doc,
    Store,
    doc_path,
)
from tests.helpers import active, pod_doc, pods, rc_doc, wait_for, write_rc
from tests.integration.test_near_limit import at_the_edge

EXPRESSIONS = [{"key": "tier", "operator": "In", "values": ["front", "edge"]},
               {"key": "canary", "operator": "DoesNotExist"}]


def rs_doc(name: str, replicas: int, app: str | None = None, selector: dict[str, Any] | None = None,
           labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    app = app or name
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": selector if selector is not None else {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": labels if labels is not None else {"app": app}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
            **spec,
        },
    }


def write_rs(store: Store, doc: dict[str, Any], namespace: str = "default") -> str:
    path = doc_path(namespace, REPLICA_SETS, doc["metadata"]["name"])
    store.client.document(path).set(doc)
    return path


def rs_data(store: Store, name: str, namespace: str = "default") -> dict[str, Any]:
    return store.client.document(doc_path(namespace, REPLICA_SETS, name)).get().to_dict() or {}


def read(store: Store, path: str) -> Doc:
    doc = store.get(path)
    assert doc is not None
    return doc


def sync(rt: Runtime, name: str = "web", kind: ControllerKind = REPLICA_SET) -> Any:
    return sync_controller(rt.store, rt.settings, "default", name, rt.clock, kind=kind)


def failure(data: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in data.get("status", {}).get("conditions", []) if c["type"] == "ReplicaFailure"), None)


def events(rt: Runtime) -> list[dict[str, Any]]:
    return [e.to_dict() or {} for e in rt.store.client.collection("namespaces/default/events").stream()]


def test_create_scale_and_terminating_replicas(rt: Runtime) -> None:
    write_rs(rt.store, rs_doc("web", 3))
    assert sync(rt).created == 3
    data = rs_data(rt.store, "web")
    uid = data["metadata"]["uid"]
    created = active(rt.store)
    assert len(created) == 3
    assert all(p.controller_ref() == owner_ref("web", uid, REPLICA_SET) for p in created)
    assert created[0].controller_ref() == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": uid,
                                           "controller": True, "blockOwnerDeletion": True}
    assert data["status"]["replicas"] == 3 and data["status"]["terminatingReplicas"] == 0
    assert data["metadata"]["generation"] == 1 and data["status"]["observedGeneration"] == 1
    [event] = events(rt)
    assert event["involvedObject"]["kind"] == "ReplicaSet" and event["reason"] == "SuccessfulCreate"

    rt.store.client.document(doc_path("default", REPLICA_SETS, "web")).update({"spec.replicas": 1})
    assert sync(rt).deleted == 2
    data = rs_data(rt.store, "web")
    # Born with the VM finalizer, the two are marked, their documents still there.
    assert data["status"]["replicas"] == 1 and data["status"]["terminatingReplicas"] == 2
    assert data["metadata"]["generation"] == 2
    leaving = [p for p in pods(rt.store) if p.being_deleted]
    assert len(leaving) == 2
    for pod in leaving:  # the pod runtime lets them go
        rt.store.client.document(pod.path).delete()
    sync(rt)
    assert rs_data(rt.store, "web")["status"]["terminatingReplicas"] == 0


def test_a_replication_controller_status_has_no_terminating_replicas(rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 2))
    sync(rt, kind=REPLICATION_CONTROLLER)
    rt.store.client.document(doc_path("default", CONTROLLERS, "web")).update({"spec.replicas": 0})
    sync(rt, kind=REPLICATION_CONTROLLER)
    status = rt.store.client.document(doc_path("default", CONTROLLERS, "web")).get().to_dict()["status"]
    assert status["replicas"] == 0 and "terminatingReplicas" not in status


def test_match_expressions_adopt_and_release(rt: Runtime) -> None:
    """Expressions only: the pass reads the namespace's pods and keeps those selected."""
    labels = {"app": "web", "tier": "front"}
    for name, pod_labels in (("fits", labels), ("canary", {**labels, "canary": "yes"}),
                             ("other-tier", {"app": "web", "tier": "back"}), ("edge", {"tier": "edge"})):
        rt.store.client.document(doc_path("default", PODS, name)).set(pod_doc(name, pod_labels))
    write_rs(rt.store, rs_doc("web", 2, selector={"matchExpressions": EXPRESSIONS}, labels=labels))
    result = sync(rt)
    assert (result.adopted, result.created) == (2, 0)
    uid = rs_data(rt.store, "web")["metadata"]["uid"]
    owned = sorted(p.name for p in pods(rt.store) if (p.controller_ref() or {}).get("uid") == uid)
    assert owned == ["edge", "fits"]

    # Made a canary: no longer selected, released and replaced.
    rt.store.client.document(doc_path("default", PODS, "fits")).update({"metadata.labels.canary": "1"})
    result = sync(rt)
    assert (result.released, result.created) == (1, 1)
    fits = next(p for p in pods(rt.store) if p.name == "fits")
    assert fits.controller_ref() is None
    assert len([p for p in active(rt.store) if (p.controller_ref() or {}).get("uid") == uid]) == 2


def test_match_labels_and_expressions_query_by_labels(rt: Runtime) -> None:
    selector = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["back"]}]}
    rt.store.client.document(doc_path("default", PODS, "back")).set(pod_doc("back", {"app": "web", "tier": "back"}))
    rt.store.client.document(doc_path("default", PODS, "plain")).set(pod_doc("plain", {"app": "web"}))
    write_rs(rt.store, rs_doc("web", 2, selector=selector, labels={"app": "web", "tier": "front"}))
    result = sync(rt)
    assert (result.adopted, result.created) == (1, 1)
    back = next(p for p in pods(rt.store) if p.name == "back")
    assert back.controller_ref() is None
    assert rs_data(rt.store, "web")["status"]["fullyLabeledReplicas"] == 1  # "plain" lacks tier=front


@pytest.mark.parametrize(("spec", "expected"), [
    ({"selector": None}, "spec.selector: Input should be a valid dictionary"),
    ({"selector": {}}, "spec.selector: Invalid value: {}: empty selector is invalid for deployment"),
    ({"selector": {"matchLabels": {"app": "db"}}},
     "spec.template.metadata.labels: Invalid value: {app=web}: `selector` does not match template `labels`"),
    ({"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
     "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"),
])
def test_an_invalid_selector_makes_no_pod_and_says_why(rt: Runtime, spec: dict[str, Any], expected: str) -> None:
    doc = rs_doc("web", 2)
    doc["spec"].update(spec)
    write_rs(rt.store, doc)
    result = sync(rt)
    assert result.invalid and result.created == 0
    condition = failure(rs_data(rt.store, "web"))
    assert condition is not None and condition["reason"] == "InvalidSpec"
    assert condition["message"].startswith(expected), condition["message"]
    assert [(e["reason"], e["involvedObject"]["kind"]) for e in events(rt)] == [("InvalidSpec", "ReplicaSet")]
    assert not pods(rt.store)


def test_a_missing_selector_is_required(rt: Runtime) -> None:
    doc = rs_doc("web", 1)
    del doc["spec"]["selector"]
    write_rs(rt.store, doc)
    assert sync(rt).invalid
    assert failure(rs_data(rt.store, "web"))["message"] == "spec.selector: Required value"


def test_an_rc_and_an_rs_never_take_each_others_pods(rt: Runtime) -> None:
    """Same name, same labels: each keeps its own pods (the controller reference, by uid)."""
    write_rc(rt.store, rc_doc("web", 2))
    write_rs(rt.store, rs_doc("web", 3))
    assert sync(rt, kind=REPLICATION_CONTROLLER).created == 2
    assert sync(rt).created == 3  # the RC's two are not adopted
    assert sync(rt, kind=REPLICATION_CONTROLLER).created == 0
    kinds = sorted((p.controller_ref() or {}).get("kind") for p in active(rt.store))
    assert kinds == ["ReplicaSet"] * 3 + ["ReplicationController"] * 2

    rt.store.client.document(doc_path("default", REPLICA_SETS, "web")).update({"spec.replicas": 0})
    assert sync(rt).deleted == 3
    assert sync(rt, kind=REPLICATION_CONTROLLER).created == 0
    assert sorted((p.controller_ref() or {}).get("kind") for p in active(rt.store)) == ["ReplicationController"] * 2


def test_cascade_deletes_only_the_replica_sets_pods(rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 1))
    path = write_rs(rt.store, rs_doc("web", 2))
    sync(rt, kind=REPLICATION_CONTROLLER)
    sync(rt)
    doc = read(rt.store, path)
    rt.store.client.document(path).delete()
    uid = controller_uid(path, doc.create_time)
    assert cascade_delete(rt.store, "default", "web", uid, rt.clock, kind=REPLICA_SET) == 2
    assert sorted((p.controller_ref() or {}).get("kind") for p in active(rt.store)) == ["ReplicationController"]
    assert cascade_delete(rt.store, "default", "web", uid, rt.clock, kind=REPLICA_SET) == 0


def test_eight_concurrent_passes_create_exactly_ten(rt: Runtime) -> None:
    write_rs(rt.store, rs_doc("web", 10, selector={"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}))
    barrier = threading.Barrier(8)
    highest = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal highest
        while not stop.is_set():
            highest = max(highest, len(active(rt.store)))

    def one_pass(_: int) -> int:
        barrier.wait()
        return int(sync(rt).created)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(one_pass, range(8)))
    stop.set()
    watcher.join()
    assert sum(created) == 10 and highest <= 10 and len(active(rt.store)) == 10


def test_quota_admits_pods_but_not_against_the_rc_count(rt: Runtime) -> None:
    rt.store.client.document(doc_path("default", QUOTAS, "compute")).set({
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute"},
        "spec": {"hard": {"pods": "4", "count/replicationcontrollers": "0"}}})
    write_rs(rt.store, rs_doc("web", 6))
    assert sync(rt).created == 4  # the RC count does not refuse a ReplicaSet
    condition = failure(rs_data(rt.store, "web"))
    assert condition is not None and condition["reason"] == "FailedCreate"
    assert condition["message"].startswith('pods "web-" is forbidden: exceeded quota: compute')
    assert ("FailedCreate", "ReplicaSet") in [(e["reason"], e["involvedObject"]["kind"]) for e in events(rt)]


def test_refused_pods_stop_creation(rt: Runtime) -> None:
    """The backstop: the pod runtime refuses this template's pods, none more are made."""
    write_rs(rt.store, rs_doc("web", 2))
    assert sync(rt).created == 2
    now = datetime.now(UTC)
    for pod in pods(rt.store):
        rt.store.client.document(pod.path).update({"status": {
            "phase": "Failed", "reason": "InvalidSpec", "message": "refused",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "InvalidSpec",
                            "message": "refused", "lastTransitionTime": now}]}})
    for _ in range(3):
        assert sync(rt).created == 0
    condition = failure(rs_data(rt.store, "web"))
    assert condition is not None and condition["message"].startswith("pods made from this template are refused")


class RefusingCommit(Store):
    """The real store, but Firestore refuses any commit that creates pods (as for a
    document over its size limit)."""

    def commit(self, writes: Any, now: datetime) -> None:
        if any(getattr(w, "path", "").startswith("namespaces/default/pods/") for w in writes):
            raise gexc.InvalidArgument("maximum entity size is 1048576 bytes")
        super().commit(writes, now)


def test_a_refused_commit_is_reported_on_the_replica_set(rt: Runtime) -> None:
    write_rs(rt.store, rs_doc("web", 2))
    refusing = RefusingCommit(rt.store.client)
    result = sync_controller(refusing, rt.settings, "default", "web", rt.clock, kind=REPLICA_SET)  # no raise
    assert result.failed and result.created == 0
    condition = failure(rs_data(rt.store, "web"))
    assert condition is not None and "maximum entity size" in condition["message"]
    assert [(e["reason"], e["involvedObject"]["kind"]) for e in events(rt)] == [("FailedCreate", "ReplicaSet")]


def test_a_replica_set_at_the_edge_reports_and_does_not_raise(rt: Runtime) -> None:
    """Its status write cannot fit under Firestore's limit: no pod (the guarded commit
    carries the status), no exception out of the pass, a Warning event naming the kind."""
    path = doc_path("default", REPLICA_SETS, "edge")
    rt.store.client.document(path).set(at_the_edge(path, rs_doc("edge", 2), gap=60))
    result = sync(rt, "edge")
    assert result.failed and result.created == 0
    assert [(e["reason"], e["type"], e["involvedObject"]["kind"]) for e in events(rt)] == [
        ("FailedCreate", "Warning", "ReplicaSet")]
    assert not pods(rt.store)


# -- with VMs: slow start, the idle tick and resync --------------------------------------


def converge(rt: Runtime, replicas: int = 3) -> None:
    """A ReplicaSet of ``replicas`` pods Running on their VMs, every pass run by hand."""
    write_rs(rt.store, rs_doc("web", replicas, selector={"matchLabels": {"app": "web"},
                                                         "matchExpressions": [{"key": "app", "operator": "Exists"}]}))
    for _ in range(replicas + 2):
        sync(rt)
        for pod in pods(rt.store):
            sync_pod(rt.store, rt.provider, rt.settings, "default", pod.name, rt.clock)
    sync(rt)
    assert sorted(p.phase for p in pods(rt.store)) == ["Running"] * replicas


def test_slow_start_then_an_idle_tick(crt: Runtime, compute: ComputeEmulator) -> None:
    assert crt.settings.slow_start
    write_rs(crt.store, rs_doc("web", 4))
    assert sync(crt).created == 1  # slow start: one pod first
    converge(crt, 4)
    doc = read(crt.store, doc_path("default", REPLICA_SETS, "web"))
    rest = pods_at_rest(doc, crt.settings, REPLICA_SET)
    assert rest is not None and rest.running == 4
    summary = resync_all(crt, full=False)
    assert summary["errors"] == [] and summary["mode"] == "idle" and summary["controllers"] == 0

    # A scale whose event was lost: the tick names the ReplicaSet and passes it.
    crt.store.client.document(doc.path).update({"spec.replicas": 5})
    summary = resync_all(crt, full=False)
    assert summary["mode"] == "full" and summary["fullBecause"] == "ReplicaSet default/web is not at rest"
    assert summary["created"] == 1


def test_terminating_pods_keep_a_replica_set_from_rest(rt: Runtime) -> None:
    write_rs(rt.store, rs_doc("web", 2))
    sync(rt)
    rt.store.client.document(doc_path("default", REPLICA_SETS, "web")).update({"spec.replicas": 0})
    sync(rt)
    doc = read(rt.store, doc_path("default", REPLICA_SETS, "web"))
    assert doc.data["status"]["terminatingReplicas"] == 2
    assert pods_at_rest(doc, rt.settings, REPLICA_SET) is None


def test_resync_collects_a_deleted_replica_sets_pods(crt: Runtime, compute: ComputeEmulator) -> None:
    """The RS deleted, its cascade lost: a full sweep deletes its pods (and an RC's pods
    with an RS's name stay)."""
    converge(crt, 2)
    write_rc(crt.store, rc_doc("web", 1))
    sync(crt, kind=REPLICATION_CONTROLLER)
    crt.store.client.document(doc_path("default", REPLICA_SETS, "web")).delete()
    summary = resync_all(crt, full=True)
    assert summary["orphansDeleted"] == 2, summary
    wait_for(lambda: all(p.being_deleted or (p.controller_ref() or {}).get("kind") == "ReplicationController"
                         for p in pods(crt.store)))
    assert [(p.controller_ref() or {}).get("kind") for p in active(crt.store)] == ["ReplicationController"]


def test_resync_passes_a_replica_set_with_prefetched_pods(crt: Runtime, compute: ComputeEmulator) -> None:
    converge(crt, 2)
    victim = pods(crt.store)[0]
    crt.store.client.document(victim.path).delete()  # its event lost
    summary = resync_all(crt, full=True)
    assert summary["errors"] == [] and summary["controllers"] == 1 and summary["created"] == 1


def deployment_doc(name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}


def test_a_tick_passes_a_deployment_not_at_rest(crt: Runtime, compute: ComputeEmulator) -> None:
    """Its event lost: the tick's requeue makes its ReplicaSet, idle or not."""
    crt.store.client.document(doc_path("default", DEPLOYMENTS, "front")).set(deployment_doc("front", 2))
    summary = resync_all(crt, full=False)
    assert summary["errors"] == [] and summary["deployments"] == 1, summary
    [replica_set] = list(crt.store.client.collection(f"namespaces/default/{REPLICA_SETS}").stream())
    assert replica_set.id.startswith("front-")
    assert (replica_set.to_dict() or {})["metadata"]["ownerReferences"][0]["kind"] == "Deployment"


def test_a_sweep_deletes_the_replica_sets_of_a_deleted_deployment(crt: Runtime, compute: ComputeEmulator) -> None:
    doc = rs_doc("front-abc", 1)
    doc["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "front",
                                           "uid": "gone", "controller": True, "blockOwnerDeletion": True}]
    write_rs(crt.store, doc)
    write_rs(crt.store, rs_doc("solo", 1))  # no Deployment: it stays
    summary = resync_all(crt, full=True)
    assert summary["errors"] == [] and summary["replicaSetsOrphaned"] == 1, summary
    names = [d.id for d in crt.store.client.collection(f"namespaces/default/{REPLICA_SETS}").stream()]
    assert names == ["solo"]
