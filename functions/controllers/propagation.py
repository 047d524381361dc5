"""Delete propagation for replica-keeping controllers (docs/kube-api.md §8): what happens
to a controller's pods when the controller goes.

Marked for deletion (``deletionTimestamp``), a controller's pass is ``plan_deletion``:
``orphan`` releases its pods, ``foregroundDeletion`` deletes them, then its own document
goes (``owner_gone``). Deleted outright, its pods are taken by ``cascade_delete``, the
background cascade, by exact owner reference. Kept apart from the pass
(``replication``, which calls ``plan_deletion``); both build on ``replica_kinds`` (the
``Plan``, the controller's guarded write, pod removal and events). The Deployment
controller shares the owner-side rules (``orphaning``, ``release_ref``, ``owner_gone``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from functions.api.controller import ReplicationControllerStatus
from functions.api.meta import FOREGROUND, ORPHAN, finalizers_of
from functions.controllers.replica_kinds import (
    MAX_ATTEMPTS,
    POD_WRITES_PER_PASS,
    REPLICATION_CONTROLLER,
    Clock,
    ControllerKind,
    Plan,
    controller_writes,
    event_for,
    owner_ref,
    pods_message,
    remove_pod,
)
from functions.logs import ref_fields
from functions.objects import Contention
from functions.pod_policy import PodInfo, filter_active_pods
from functions.store import Delete, Doc, StaleWrite, Store, Update, Write

log = logging.getLogger("firecontrol.replication")  # one logger for the replication manager

CASCADE_CHUNK = 400  # Firestore commits at most 500 writes


def orphaning(data: Any) -> bool:
    """The document was deleted to orphan its dependents: its deletion cascades to nothing."""
    return ORPHAN in finalizers_of(data)


def release_ref(owner_references: list[dict[str, Any]], uid: str) -> list[dict[str, Any]]:
    return [r for r in owner_references if r.get("uid") != uid]


def owner_gone(path: str, data: Any, update_time: datetime) -> Write:
    """The marked owner's last write, once its dependents are dealt with: its document
    deleted (guarded), or, while finalizers not ours hold it, ours removed (as the
    apiserver deletes an object when its last finalizer goes)."""
    others = [f for f in finalizers_of(data) if f not in (FOREGROUND, ORPHAN)]
    if others:
        return Update(path, {"metadata.finalizers": others}, if_updated_at=update_time)
    return Delete(path, if_updated_at=update_time)


def plan_deletion(
    rc: Doc, uid: str, old: ReplicationControllerStatus, generation: int, digest: str,
    owned: list[PodInfo], now: datetime, kind: ControllerKind = REPLICATION_CONTROLLER,
) -> Plan:
    """A controller marked for deletion (docs/kube-api.md §8) creates and adopts nothing.
    ``orphan``: its owner reference leaves every pod it owns, then it goes. ``foregroundDeletion``:
    its pods are deleted as a scale-down deletes them (two-phase), and it goes once none
    is left. Neither, and no finalizer at all: it goes (its deletion event cascades);
    another's finalizer: it waits, reporting its pods. A pass that stops halfway leaves
    the rest to the next (the pods' deletions and resync ask for it)."""
    finalizers = finalizers_of(rc.data)
    batch: list[PodInfo] = []
    pod_writes: list[Write] = []
    releasing: list[str] = []
    more = False
    if ORPHAN in finalizers:
        batch = owned[:POD_WRITES_PER_PASS]
        pod_writes = [Update(p.path, {"metadata.ownerReferences": release_ref(p.owner_references, uid)},
                             p.update_time) for p in batch]
        releasing, left = [p.name for p in batch], owned[len(batch):]
        more = bool(left)
    elif FOREGROUND in finalizers:
        doomed = [p for p in owned if not p.being_deleted]
        batch = doomed[:POD_WRITES_PER_PASS]
        pod_writes = [remove_pod(p, now) for p in batch]
        gone_now = {p.path for p in batch if not p.finalizers}  # deleted outright by this commit
        left = [p for p in owned if p.path not in gone_now]
        more = len(doomed) > len(batch)
    else:
        left = owned if finalizers else []
    going = {p.path for p in batch} if not releasing else set()
    deleting = [p.name for p in batch] if going else []
    events: list[Write] = []
    if deleting:
        events.append(event_for(rc.namespace, rc.name, uid, "SuccessfulDelete", pods_message("Deleted", deleting),
                                kind=kind))
    if releasing:
        events.append(event_for(rc.namespace, rc.name, uid, "Orphaned", pods_message("Released", releasing),
                                kind=kind))
    if not left and (ORPHAN in finalizers or FOREGROUND in finalizers or not finalizers):
        writes = [*pod_writes, owner_gone(rc.path, rc.data, rc.update_time), *events]
        return Plan(writes=writes, deleting=deleting, releasing=releasing, deleted_self=True)
    remaining = [p for p in filter_active_pods(owned) if p.path not in going]
    update: dict[str, Any] = {
        "replicas": len(remaining), "ready_replicas": sum(p.ready for p in remaining),
        "available_replicas": min(old.available_replicas, sum(p.ready for p in remaining)),
        "observed_generation": generation, "spec_hash": digest,
    }
    if kind.counts_terminating:
        update["terminating_replicas"] = len({p.path for p in owned if p.being_deleted} | going)
    rc_writes = controller_writes(rc, uid, old.model_copy(update=update), generation, pod_writes=bool(pod_writes))
    writes = [*rc_writes, *pod_writes, *events] if rc_writes else []
    return Plan(writes=writes, deleting=deleting, releasing=releasing, more=more)


def cascade_delete(
    store: Store, namespace: str, name: str, uid: str, clock: Clock, kind: ControllerKind = REPLICATION_CONTROLLER,
    old: Any = None,
) -> int:
    """A deleted controller's pods are deleted (Kubernetes' background cascade): those that
    carry its exact owner reference, so pods an ``orphan`` deletion released are not taken.
    ``old``, the deleted document: one that was orphaning takes none at all."""
    if orphaning(old):
        return 0
    ref = owner_ref(name, uid, kind)
    deleted = stale = 0
    while stale < MAX_ATTEMPTS:
        pods = [PodInfo.from_doc(d) for d in store.pods_matching_or_owned(namespace, {}, ref)]
        doomed = [p for p in pods if not p.being_deleted][:CASCADE_CHUNK]
        if not doomed:
            return deleted
        now = clock()
        writes = [remove_pod(p, now) for p in doomed]
        message = pods_message("Deleted", [p.name for p in doomed])
        writes.append(event_for(namespace, name, uid, "SuccessfulDelete", message, kind=kind))
        try:
            store.commit(writes, now)
        except StaleWrite:
            stale += 1
            continue
        deleted += len(doomed)
        log.info(
            "controller deleted: deleting its pods",
            extra=ref_fields(kind.kind, namespace, name, deleting=len(doomed)),
        )
    raise Contention(f"{kind.kind} {namespace}/{name}: cascade did not commit in {MAX_ATTEMPTS} attempts")
