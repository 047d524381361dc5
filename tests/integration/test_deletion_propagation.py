"""Delete propagation (docs/kube-api.md §8): a replication controller, ReplicaSet or
Deployment marked with ``metadata.deletionTimestamp`` and the finalizer
``foregroundDeletion`` deletes its dependents, then itself; with ``orphan`` it lets them
go (its owner reference removed from each), then deletes itself. A marked controller
creates nothing. Against the real Firestore emulator (and, through the triggers, the
Compute emulator)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from functions.controllers.deployments import sync_deployment
from functions.controllers.replica_kinds import (
    REPLICA_SET,
    REPLICATION_CONTROLLER,
    ControllerKind,
    controller_uid,
)
from functions.controllers.replication import pods_at_rest, sync_controller
from functions.controllers.resync import resync_all
from functions.events import DocumentChange, StoredDocument
from functions.handlers import on_controller_change, on_deployment_change, on_replicaset_change
from functions.runtime import Runtime
from functions.store import DEPLOYMENTS, REPLICA_SETS, Doc, doc_path
from tests.helpers import pods, rc_doc, wait_for
from tests.integration.test_replicasets import rs_doc

NS = "default"
FOREGROUND, ORPHAN = "foregroundDeletion", "orphan"
KINDS = {"rc": REPLICATION_CONTROLLER, "rs": REPLICA_SET}


def write(rt: Runtime, kind: ControllerKind, replicas: int) -> str:
    path = kind.path(NS, "web")
    make = rc_doc if kind is REPLICATION_CONTROLLER else rs_doc
    rt.store.client.document(path).set(make("web", replicas))
    return path


def run(rt: Runtime, kind: ControllerKind) -> Any:
    return sync_controller(rt.store, rt.settings, NS, "web", rt.clock, kind=kind)


def mark(rt: Runtime, path: str, *finalizers: str) -> None:
    """What kube_api's DELETE with a propagationPolicy writes."""
    rt.store.client.document(path).update({
        "metadata.deletionTimestamp": datetime.now(UTC), "metadata.finalizers": list(finalizers)})


def exists(rt: Runtime, path: str) -> bool:
    return bool(rt.store.client.document(path).get().exists)


def finish_terminating(rt: Runtime) -> None:
    """The pod runtime's part: a marked pod's VM gone, its document deleted."""
    for pod in pods(rt.store, NS):
        if pod.being_deleted:
            rt.store.client.document(pod.path).delete()


def deleted_event(rt: Runtime, path: str, before: Doc) -> DocumentChange:
    """The trigger's event for a document deleted (its old value as it was before)."""
    return DocumentChange("deleted", path, StoredDocument(before.data, before.create_time, before.update_time), None)


@pytest.mark.parametrize("which", sorted(KINDS))
def test_foreground_deletes_the_pods_then_the_controller(rt: Runtime, which: str) -> None:
    kind = KINDS[which]
    path = write(rt, kind, 3)
    run(rt, kind)
    for pod in pods(rt.store, NS):  # as the pod runtime leaves them: holding a VM
        rt.store.client.document(pod.path).update({"metadata.finalizers": ["firecontrol.io/instance"]})
    mark(rt, path, FOREGROUND)
    result = run(rt, kind)
    assert result.created == 0 and result.deleted == 3
    assert [p.being_deleted for p in pods(rt.store, NS)] == [True] * 3
    assert exists(rt, path)  # the pods' documents are still there: it waits
    run(rt, kind)
    assert exists(rt, path) and len(pods(rt.store, NS)) == 3  # nothing new, nothing made
    finish_terminating(rt)
    run(rt, kind)
    assert not exists(rt, path)


@pytest.mark.parametrize("which", sorted(KINDS))
def test_orphan_releases_the_pods_and_the_deletion_cascade_leaves_them(
    crt: Runtime, compute: ComputeEmulator, which: str,
) -> None:
    rt = crt
    kind = KINDS[which]
    path = write(rt, kind, 3)
    run(rt, kind)
    made = len(pods(rt.store, NS))  # slow start: the first pass makes one
    assert made >= 1
    mark(rt, path, ORPHAN)
    before = rt.store.get(path)
    assert before is not None
    run(rt, kind)
    assert not exists(rt, path)
    left = pods(rt.store, NS)
    assert len(left) == made and not any(p.being_deleted for p in left)
    assert all(p.owner_references == [] for p in left)
    # The deletion's own event: the cascade (by owner reference) takes none of them.
    handler = on_controller_change if kind is REPLICATION_CONTROLLER else on_replicaset_change
    reply = handler(deleted_event(rt, path, before), rt)
    assert reply["deleted"] == 0
    # Nor does resync's collection of pods whose controller is gone.
    resync_all(rt, full=True)
    assert len(pods(rt.store, NS)) == made and not any(p.being_deleted for p in pods(rt.store, NS))


@pytest.mark.parametrize("which", sorted(KINDS))
@pytest.mark.parametrize("finalizers", [(FOREGROUND,), (ORPHAN,), ("example.com/hold",), ()])
def test_a_marked_controller_creates_no_pod(rt: Runtime, which: str, finalizers: tuple[str, ...]) -> None:
    kind = KINDS[which]
    path = write(rt, kind, 3)
    mark(rt, path, *finalizers)
    result = run(rt, kind)
    assert result.created == 0 and pods(rt.store, NS) == []
    # Nothing holds it (or only our own finalizers): gone; another's finalizer keeps it.
    assert exists(rt, path) == (finalizers == ("example.com/hold",))


def test_foreground_with_another_finalizer_leaves_that_one(rt: Runtime) -> None:
    path = write(rt, REPLICATION_CONTROLLER, 1)
    run(rt, REPLICATION_CONTROLLER)
    finish = [FOREGROUND, "example.com/hold"]
    mark(rt, path, *finish)
    run(rt, REPLICATION_CONTROLLER)
    finish_terminating(rt)
    run(rt, REPLICATION_CONTROLLER)
    data = rt.store.client.document(path).get().to_dict() or {}
    assert data["metadata"]["finalizers"] == ["example.com/hold"] and pods(rt.store, NS) == []


def test_a_marked_controller_is_never_at_rest_so_resync_finishes_it(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = crt
    path = write(rt, REPLICATION_CONTROLLER, 0)
    run(rt, REPLICATION_CONTROLLER)
    doc = rt.store.get(path)
    assert doc is not None and pods_at_rest(doc, rt.settings) is not None
    mark(rt, path, FOREGROUND)  # its event lost
    doc = rt.store.get(path)
    assert doc is not None and pods_at_rest(doc, rt.settings) is None
    resync_all(rt, full=False)
    assert not exists(rt, path)


# -- Deployments ---------------------------------------------------------------------------


DPATH = doc_path(NS, DEPLOYMENTS, "web")


def deployment(rt: Runtime, replicas: int = 2) -> None:
    rt.store.client.document(DPATH).set({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})


def dpass(rt: Runtime) -> Any:
    return sync_deployment(rt.store, rt.settings, NS, "web", rt.clock)


def replica_sets(rt: Runtime) -> dict[str, dict[str, Any]]:
    return {d.name: d.data for d in rt.store.in_namespace(NS, REPLICA_SETS)}


def rs_passes(rt: Runtime) -> None:
    for name in replica_sets(rt):
        sync_controller(rt.store, rt.settings, NS, name, rt.clock, kind=REPLICA_SET)


def test_a_foreground_deployment_marks_its_replicasets_and_goes_when_they_are_gone(rt: Runtime) -> None:
    deployment(rt)
    dpass(rt)
    rs_passes(rt)
    [name] = replica_sets(rt)
    assert len(pods(rt.store, NS)) == 2
    mark(rt, DPATH, FOREGROUND)
    result = dpass(rt)
    assert result.created == 0
    rs = replica_sets(rt)[name]
    assert rs["metadata"]["deletionTimestamp"] and rs["metadata"]["finalizers"] == [FOREGROUND]
    assert exists(rt, DPATH)
    rs_passes(rt)  # the ReplicaSet's own foreground pass: its pods go first
    assert exists(rt, doc_path(NS, REPLICA_SETS, name)) and all(p.being_deleted for p in pods(rt.store, NS))
    finish_terminating(rt)
    rs_passes(rt)
    assert replica_sets(rt) == {}
    dpass(rt)  # asked for by its ReplicaSet's deletion
    assert not exists(rt, DPATH)


def test_an_orphaning_deployment_leaves_its_replicasets_and_their_pods(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = crt
    deployment(rt)
    dpass(rt)
    rs_passes(rt)
    [name] = replica_sets(rt)
    made = len(pods(rt.store, NS))  # slow start: the first pass makes one
    mark(rt, DPATH, ORPHAN)
    before = rt.store.get(DPATH)
    assert before is not None
    dpass(rt)
    assert not exists(rt, DPATH)
    rs = replica_sets(rt)[name]
    assert rs["metadata"].get("ownerReferences") == [] and not rs["metadata"].get("deletionTimestamp")
    reply = on_deployment_change(deleted_event(rt, DPATH, before), rt)
    assert reply["deleted"] == 0 and list(replica_sets(rt)) == [name]
    rs_passes(rt)
    resync_all(rt, full=True)
    # Unowned, the ReplicaSet goes on keeping its pods; none is deleted.
    assert list(replica_sets(rt)) == [name] and made <= len([p for p in pods(rt.store, NS) if not p.being_deleted])


def test_a_marked_deployment_creates_no_replicaset(rt: Runtime) -> None:
    deployment(rt)
    mark(rt, DPATH, "example.com/hold")
    dpass(rt)
    assert replica_sets(rt) == {} and exists(rt, DPATH)


# -- through the triggers -------------------------------------------------------------------


def test_foreground_through_the_triggers(cluster: Runtime, compute: ComputeEmulator) -> None:
    """kube_api marks the controller; its pass marks the pods; the pod runtime deletes
    their VMs and documents; each document's deletion asks for the owner's pass, and the
    last one lets the owner go."""
    store = cluster.store
    path = REPLICATION_CONTROLLER.path(NS, "web")
    store.client.document(path).set(rc_doc("web", 2))
    wait_for(lambda: len([p for p in pods(store, NS) if p.node_name]) == 2, timeout=30)
    uid = controller_uid(path, store.client.document(path).get().create_time)
    assert all((p.controller_ref() or {}).get("uid") == uid for p in pods(store, NS))
    mark(cluster, path, FOREGROUND)
    wait_for(lambda: not exists(cluster, path), timeout=30)
    assert pods(store, NS) == []
    assert compute.state.dump()["resources"]["instances"] == []


def test_foreground_deployment_through_the_triggers(cluster: Runtime, compute: ComputeEmulator) -> None:
    """The Deployment marks its ReplicaSet foreground; the ReplicaSet's pods go, then the
    ReplicaSet; its deletion asks for the Deployment's pass, which lets it go."""
    store = cluster.store
    deployment(cluster, replicas=2)
    wait_for(lambda: len([p for p in pods(store, NS) if p.node_name]) == 2, timeout=30)
    mark(cluster, DPATH, FOREGROUND)
    wait_for(lambda: not exists(cluster, DPATH), timeout=30)
    assert replica_sets(cluster) == {} and pods(store, NS) == []
    assert compute.state.dump()["resources"]["instances"] == []
