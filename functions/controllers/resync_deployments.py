"""Resync's part for Deployments: the requeue Kubernetes' deployment controller has, and
its garbage collection of ReplicaSets.

A Deployment's pass runs on a change of the Deployment or of one of its ReplicaSets'
counts; what no change announces (a ``minReadySeconds`` that has run, a progress
deadline that has passed, an event lost) is resync's. Each tick passes every Deployment
that is not at rest (``deployment_at_rest``: its last pass saw this spec and nothing
is pending); a full sweep passes them all, and deletes the ReplicaSets whose controlling
Deployment is gone (its delete event lost): their own triggers, or the next sweep's pod
step, take the pods.

``deployment_work`` gives the work as items for resync's sweep (one per object, each
idempotent, run by the sweep's deadline and cursor); ``resync_deployments`` runs it
all at once, for a caller without a sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from functions.controllers.deployments import deployment_at_rest, sync_deployment
from functions.objects import object_uid
from functions.pod_policy import as_dict, controller_reference
from functions.runtime import Runtime
from functions.store import DEPLOYMENTS, Delete, Doc, StaleWrite, doc_path

log = logging.getLogger("firecontrol.resync")

DEPLOYMENT = "Deployment"
REPLICA_SET = "ReplicaSet"
# The steps these items belong to, as resync's STEPS names them: ReplicaSets whose
# Deployment is gone with the other orphans, Deployment passes before the controllers'
# (a pass that scales a ReplicaSet is followed by that ReplicaSet's own).
ORPHANS = "orphans"
DEPLOYMENTS_STEP = "deployments"


@dataclass(frozen=True)
class Work:
    """One item of resync's work: ``run`` it; ``subject`` (kind, namespace, name, uid) is
    the object told with an event when it fails. The fields of resync's ``Item``."""

    step: str
    key: str
    what: str
    run: Callable[[], Any]
    subject: tuple[str, str, str, str]


def read_deployments(rt: Runtime) -> list[Doc]:
    """Every Deployment of the installation (one collection-group query)."""
    return rt.store.all_of_kind(DEPLOYMENTS)


def deployment_work(
    rt: Runtime, deployments: list[Doc], full: bool, replica_sets: list[Doc] | None = None,
    counts: MutableMapping[str, int] | None = None,
) -> list[Work]:
    """The Deployment passes this tick owes (all of them when ``full``, else those not at
    rest), and, given the ReplicaSets the sweep read after ``deployments``, the deletion
    of each one whose controlling Deployment is gone. ``counts`` gets ``deployments``
    and ``replicaSetsOrphaned`` as the items run."""
    tally: MutableMapping[str, int] = counts if counts is not None else {}
    work: list[Work] = []
    for doc in deployments:
        if full or not deployment_at_rest(doc):
            work.append(Work(DEPLOYMENTS_STEP, doc.path, f"{DEPLOYMENT} {doc.namespace}/{doc.name}",
                             partial(_pass, rt, doc, tally),
                             (DEPLOYMENT, doc.namespace, doc.name, object_uid(doc.path, doc.create_time))))
    if replica_sets is not None:
        live = {(d.namespace, d.name, object_uid(d.path, d.create_time)) for d in deployments}
        for rs in replica_sets:
            ref = deployment_ref(rs)
            if ref is None or (rs.namespace, *ref) in live or as_dict(rs.data.get("metadata")).get("deletionTimestamp"):
                continue
            work.append(Work(ORPHANS, rs.path, f"{REPLICA_SET} {rs.namespace}/{rs.name}",
                             partial(_collect, rt, rs, ref, tally),
                             (REPLICA_SET, rs.namespace, rs.name, object_uid(rs.path, rs.create_time))))
    return work


def deployment_ref(replica_set: Doc) -> tuple[str, str] | None:
    """(name, uid) of the Deployment a ReplicaSet's controlling owner reference names."""
    ref = controller_reference(replica_set.data) or {}
    name, uid = ref.get("name"), ref.get("uid")
    if ref.get("kind") != DEPLOYMENT or not isinstance(name, str) or not name or "/" in name \
            or not isinstance(uid, str):
        return None
    return name, uid


def _pass(rt: Runtime, doc: Doc, counts: MutableMapping[str, int]) -> None:
    counts["deployments"] = counts.get("deployments", 0) + 1
    sync_deployment(rt.store, rt.settings, doc.namespace, doc.name, rt.clock)


def _collect(rt: Runtime, rs: Doc, ref: tuple[str, str], counts: MutableMapping[str, int]) -> None:
    """Delete a ReplicaSet whose Deployment is gone; the Deployments were read before the
    ReplicaSets, so one made in between is looked up first, and the delete holds only
    if the ReplicaSet is unchanged since read (a Deployment adopting or releasing it)."""
    name, uid = ref
    owner = rt.store.get(doc_path(rs.namespace, DEPLOYMENTS, name))
    if owner is not None and object_uid(owner.path, owner.create_time) == uid:
        return
    try:
        rt.store.commit([Delete(rs.path, if_updated_at=rs.update_time)], rt.clock())
    except StaleWrite:
        return  # changed since read: the next sweep looks again
    counts["replicaSetsOrphaned"] = counts.get("replicaSetsOrphaned", 0) + 1
    log.info("replica set of a deleted deployment deleted",
             extra={"object": f"{REPLICA_SET}/{rs.namespace}/{rs.name}", "owner": name})


def resync_deployments(rt: Runtime, full: bool, replica_sets: list[Doc] | None = None) -> dict[str, Any]:
    """All of it, now: the Deployments read, every item run, one failing not stopping the
    rest; a summary back (``errors`` names the failed ones; the next tick tries again)."""
    counts: dict[str, int] = {"deployments": 0, "replicaSetsOrphaned": 0}
    errors: list[str] = []
    for item in deployment_work(rt, read_deployments(rt), full, replica_sets, counts):
        try:
            item.run()
        except Exception as error:  # one object's failure must not stop the others
            log.warning(f"resync: {item.what} failed", extra={"object": item.what}, exc_info=True)
            errors.append(f"{item.what}: {type(error).__name__}: {error}")
    return {**counts, "errors": errors}
