"""The deployment controller: a Deployment's ReplicaSets, scaled per its strategy.

A port of Kubernetes' ``pkg/controller/deployment``. ``plan_deployment`` is one
``syncDeployment``, a pure function of the Deployment, the namespace's ReplicaSets,
(for Recreate) the pods and the time: what Kubernetes does with several API calls it
decides as writes, and ``sync_deployment`` commits them at once, the Deployment's write
guarded by its ``update_time`` and each ReplicaSet's by its own. Of two concurrent
passes one commits; the other re-reads. A pass never waits: the next step is the next
pass, triggered by the change this one made or by a ReplicaSet's status moving.

The decisions live in ``deployment_view`` (the ReplicaSets as the pass sees them),
``deployment_rollout`` (the strategies) and ``deployment_status`` (status and
conditions); this module is the pass around them, and the only one with I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc

from functions.api.controller import next_generation, spec_hash
from functions.api.deployment import (
    KIND,
    NO_LIMIT,
    RECREATE,
    parse_deployment,
    selector_digest,
    selector_immutable_message,
)
from functions.api.meta import FOREGROUND, ORPHAN, finalizers_of
from functions.config import Settings
from functions.controllers.deployment_conditions import (
    FAILED_RS_CREATE,
    INVALID_SPEC,
    NEW_RS_AVAILABLE,
    PROGRESSING,
    REPLICA_FAILURE,
    TIMED_OUT,
    condition,
    get_condition,
    set_condition,
)
from functions.controllers.deployment_rollout import (
    is_scaling_event,
    rollout_recreate,
    rollout_rolling,
    rs_document,
    sync,
    sync_revision,
)
from functions.controllers.deployment_status import check_paused_conditions, sync_status
from functions.controllers.deployment_view import (
    RS,
    DeploymentView,
    as_int,
    claim,
    deployment_uid,
    event_for,
    revision_of,
)
from functions.controllers.propagation import orphaning, owner_gone, release_ref
from functions.controllers.replication import being_deleted
from functions.logs import ref_fields
from functions.objects import Contention, same_data
from functions.pod_policy import PodInfo, as_dict, as_list
from functions.store import (
    DEPLOYMENTS,
    REPLICA_SETS,
    Create,
    Delete,
    Doc,
    StaleWrite,
    Store,
    Update,
    Write,
    doc_path,
)

__all__ = [
    "DeploymentPlan",
    "DeploymentResult",
    "cascade_delete_deployment",
    "deployment_at_rest",
    "deployment_uid",
    "plan_deployment",
    "read_pods",
    "revision_of",
    "sync_deployment",
]

log = logging.getLogger("firecontrol.deployments")

MAX_ATTEMPTS = 12
SELECTOR_HASH = "selectorHash"  # firecontrol's: the selector the passes act on (immutable)
CASCADE_BATCH = 400  # deletes per commit, under Firestore's 500 writes a commit

Clock = Callable[[], datetime]


@dataclass
class DeploymentPlan:
    """One pass's writes, and what they mean."""

    writes: list[Write] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    scaled: list[str] = field(default_factory=list)  # "name from a to b"
    deleted: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    collision: bool = False
    removed: bool = False  # marked for deletion and done: its document deleted (or our finalizer off)


def _sync(v: DeploymentView) -> None:
    """``syncDeployment``: paused or scaling → scale only; else the strategy's rollout."""
    check_paused_conditions(v)
    new, old = sync_revision(v)
    if v.spec.paused or is_scaling_event(v, new, old):
        sync(v, new, old)
    elif v.spec.strategy.type == RECREATE:
        rollout_recreate(v, new, old)
    else:
        rollout_rolling(v, new, old)


def _generation(doc: Doc) -> tuple[int, str]:
    """``metadata.generation`` when the spec's hash moved since the last pass: kube_api's
    bump kept, else one more than observed (``next_generation``, docs/kube-api.md §3)."""
    digest = spec_hash(doc.data.get("spec"))
    meta, status = as_dict(doc.data.get("metadata")), as_dict(doc.data.get("status"))
    current, observed = meta.get("generation"), status.get("observedGeneration")
    return next_generation(
        current if isinstance(current, int) and not isinstance(current, bool) else None,
        observed if isinstance(observed, int) and not isinstance(observed, bool) else None,
        digest != status.get("specHash"),
    ), digest


def _deployment_writes(doc: Doc, uid: str, generation: int, status: dict[str, Any],
                       annotations: dict[str, str] | None, others: bool) -> list[Write]:
    """The Deployment's guarded write: status, uid, generation, revision annotation, and a
    new resourceVersion whenever anything is written, so a concurrent pass's guard fails."""
    fields: dict[str, Any] = {}
    if not same_data(status, doc.data.get("status")):
        fields["status"] = status
    raw = doc.data.get("metadata")
    meta = as_dict(raw)
    changed: dict[str, Any] = {}
    for key, value in (("uid", uid), ("generation", generation)):
        if meta.get(key) != value:
            changed[key] = value
    if annotations is not None and annotations != as_dict(meta.get("annotations")):
        changed["annotations"] = annotations
    if fields or changed or others:
        version = meta.get("resourceVersion")
        number = int(version) if isinstance(version, str) and version.isdigit() else 0
        changed["resourceVersion"] = str(number + 1)
    if isinstance(raw, dict):
        fields.update({f"metadata.{key}": value for key, value in changed.items()})
    elif raw is None and changed:
        fields["metadata"] = changed  # no metadata map (the name is the document id): make one
    if not fields:
        return []
    return [Update(doc.path, fields, if_updated_at=doc.update_time)]


def _invalid(doc: Doc, uid: str, generation: int, digest: str, errors: list[str], now: datetime) -> DeploymentPlan:
    """A Deployment the pass cannot act on: say why, touch no ReplicaSet."""
    message = "; ".join(errors)[:1000]
    status = dict(as_dict(doc.data.get("status")))
    conditions = [c for c in as_list(status.get("conditions")) if isinstance(c, dict)]
    old = get_condition(conditions, REPLICA_FAILURE)
    new = condition(REPLICA_FAILURE, "True", INVALID_SPEC, message, now)
    if old is not None and (old.get("reason"), old.get("message")) == (INVALID_SPEC, message):
        new = old
    status.update({"observedGeneration": generation, "specHash": digest,
                   "conditions": [*(c for c in conditions if c.get("type") != REPLICA_FAILURE), new]})
    writes = _deployment_writes(doc, uid, generation, status, None, others=False)
    if writes and new is not old:
        writes.append(event_for(doc.namespace, doc.name, uid, INVALID_SPEC, message, "Warning"))
    return DeploymentPlan(writes=writes, errors=errors)


def plan_deployment(
    deployment: Doc, replica_sets: Sequence[Doc], pods: Sequence[PodInfo], now: datetime,
    max_replicas: int | None = None,
) -> DeploymentPlan:
    """Decide one pass of a Deployment over the namespace's ReplicaSets (and, for
    Recreate, the pods of its ReplicaSets), as Kubernetes' ``syncDeployment``."""
    uid = deployment_uid(deployment.path, deployment.create_time)
    generation, digest = _generation(deployment)
    finalizers = finalizers_of(deployment.data)
    if being_deleted(deployment.data) and (FOREGROUND in finalizers or ORPHAN in finalizers or not finalizers):
        return _plan_deletion(deployment, uid, generation, digest, replica_sets, now)
    parsed = parse_deployment(deployment.data, deployment.namespace, deployment.name, max_replicas)
    if parsed.obj is None or parsed.errors:
        return _invalid(deployment, uid, generation, digest, parsed.errors, now)
    d = parsed.obj
    selector = selector_digest(d.spec.label_selector.to_doc())
    recorded = as_dict(deployment.data.get("status")).get(SELECTOR_HASH)
    if isinstance(recorded, str) and recorded != selector:
        # apps/v1: immutable. Acting on a new one would release the old ReplicaSets (and
        # their pods, for good) and make new ones: refuse, touch nothing.
        message = selector_immutable_message(d.spec.label_selector.to_doc())
        return _invalid(deployment, uid, generation, digest, [message], now)
    everything = [RS.from_doc(doc) for doc in replica_sets]
    marked = being_deleted(deployment.data)  # with another's finalizer: status only
    mine, adopted, released = claim(d, uid, everything, marked)
    v = DeploymentView(deployment, d, mine, everything, pods, now, generation, digest)
    v.status[SELECTOR_HASH] = selector
    if marked:
        new = v.find_new()
        sync_status(v, [*v.old_sets(new), new], new, progress=False)
    else:
        _sync(v)

    rs_writes: list[Write] = []
    for rs in everything:
        rs_writes += rs.writes()
    for rs in v.creates:
        rs_writes.append(Create(rs.path, rs_document(v, rs)))
    own = _deployment_writes(deployment, uid, generation, v.status, v.annotations, others=bool(rs_writes))
    if not own and not rs_writes:
        return DeploymentPlan(adopted=adopted, released=released)
    writes: list[Write] = [*own, *rs_writes, *v.events]
    if parsed.unknown and digest != as_dict(deployment.data.get("status")).get("specHash"):
        message = "fields not supported, kept but ignored: " + ", ".join(parsed.unknown)
        writes.append(event_for(deployment.namespace, deployment.name, uid, "UnsupportedFields", message[:1000], "Warning"))
    return DeploymentPlan(
        writes=writes,
        created=[rs.name for rs in v.creates],
        scaled=v.scaled,
        deleted=[rs.name for rs in everything if rs.delete],
        adopted=adopted,
        released=released,
        collision=v.collision,
    )


def _plan_deletion(doc: Doc, uid: str, generation: int, digest: str, replica_sets: Sequence[Doc],
                   now: datetime) -> DeploymentPlan:
    """A Deployment marked for deletion (docs/kube-api.md §8) makes and adopts nothing.
    ``orphan``: its owner reference leaves each of its ReplicaSets (they and their pods
    stay), then it goes. ``foregroundDeletion``: each of its ReplicaSets is marked
    foreground too (Kubernetes' garbage collector does the same), so each deletes its pods
    and then itself; the Deployment goes once none is left (each one's deletion asks for
    this pass). No finalizer at all: it goes, and its deletion event cascades."""
    finalizers = finalizers_of(doc.data)
    owned = [rs for rs in (RS.from_doc(d) for d in replica_sets) if rs.controller_uid() == uid]
    rs_writes: list[Write] = []
    released: list[str] = []
    marked: list[str] = []
    if ORPHAN in finalizers:
        batch, left = owned[:CASCADE_BATCH], owned[CASCADE_BATCH:]
        for rs in batch:
            assert rs.doc is not None
            rs_writes.append(Update(rs.path, {"metadata.ownerReferences": release_ref(rs.owner_references, uid)},
                                    if_updated_at=rs.doc.update_time))
        released = [rs.name for rs in batch]
    elif FOREGROUND in finalizers:
        left = owned
        for rs in [rs for rs in owned if not rs.being_deleted][:CASCADE_BATCH]:
            assert rs.doc is not None
            theirs = [f for f in finalizers_of(rs.doc.data) if f != FOREGROUND]
            rs_writes.append(Update(rs.path, {"metadata.deletionTimestamp": now,
                                              "metadata.finalizers": [*theirs, FOREGROUND]},
                                    if_updated_at=rs.doc.update_time))
            marked.append(rs.name)
    else:
        left = []
    if not left:
        return DeploymentPlan(writes=[*rs_writes, owner_gone(doc.path, doc.data, doc.update_time)],
                              released=released, removed=True)
    status = dict(as_dict(doc.data.get("status")))
    status.update({"observedGeneration": generation, "specHash": digest})
    own = _deployment_writes(doc, uid, generation, status, None, others=bool(rs_writes))
    if not own and not rs_writes:
        return DeploymentPlan()
    events = []
    if marked:
        events.append(event_for(doc.namespace, doc.name, uid, "DeletingReplicaSets",
                                f"Deleting replica sets (foreground): {', '.join(marked)}"[:1000]))
    return DeploymentPlan(writes=[*own, *rs_writes, *events], deleted=marked, released=released)


# -- the I/O around it -----------------------------------------------------------------


@dataclass
class DeploymentResult:
    created: int = 0
    scaled: int = 0
    deleted: int = 0
    adopted: int = 0
    released: int = 0
    collisions: int = 0
    invalid: bool = False
    failed: bool = False
    passes: int = 0
    removed: bool = False


def _strategy_type(doc: Doc) -> Any:
    return as_dict(as_dict(doc.data.get("spec")).get("strategy")).get("type")


def read_pods(store: Store, deployment: Doc) -> list[PodInfo]:
    """The pods a Recreate pass looks at: those the Deployment's selector matches (the
    planner keeps the ones its old ReplicaSets own). Other strategies read none."""
    if _strategy_type(deployment) != RECREATE:
        return []
    parsed = parse_deployment(deployment.data, deployment.namespace, deployment.name)
    if parsed.obj is None:
        return []
    return [PodInfo.from_doc(doc) for doc in
            store.pods_matching_or_owned(deployment.namespace, parsed.obj.spec.label_selector, None)]


def sync_deployment(store: Store, settings: Settings, namespace: str, name: str, clock: Clock) -> DeploymentResult:
    """One pass of a Deployment: read, plan, commit once; on a stale commit read again."""
    path = doc_path(namespace, DEPLOYMENTS, name)
    result = DeploymentResult()
    for _attempt in range(MAX_ATTEMPTS):
        doc = store.get(path)
        if doc is None:
            return result
        replica_sets = store.in_namespace(namespace, REPLICA_SETS)
        pods = read_pods(store, doc)
        now = clock()
        plan = plan_deployment(doc, replica_sets, pods, now, settings.max_replicas)
        result.invalid = bool(plan.errors)
        if not plan.writes:
            return result
        try:
            store.commit(plan.writes, now)
        except StaleWrite:
            continue
        except (gexc.InvalidArgument, gexc.PermissionDenied, gexc.ResourceExhausted) as error:
            result.failed = True
            log.error("sync failed", extra=ref_fields(KIND, namespace, name, error=str(error)))
            _record_failure(store, doc, plan, error, now)
            return result
        result.passes += 1
        result.created += len(plan.created)
        result.scaled += len(plan.scaled)
        result.deleted += len(plan.deleted)
        result.adopted += len(plan.adopted)
        result.released += len(plan.released)
        result.collisions += int(plan.collision)
        result.removed = result.removed or plan.removed
        _log_plan(namespace, name, plan)
        if plan.collision:
            continue  # the next name now: a status-only write wakes no trigger
        return result
    raise Contention(f"{KIND} {namespace}/{name}: no pass committed in {MAX_ATTEMPTS} attempts")


def _record_failure(store: Store, doc: Doc, plan: DeploymentPlan, error: Exception, now: datetime) -> None:
    """A commit Firestore refused: a Warning event; for a refused ReplicaSet create also
    Kubernetes' ``Progressing=False`` (``ReplicaSetCreateError``) on the Deployment, so
    ``rollout status`` says why (resync retries it: the Deployment is not at rest)."""
    uid = deployment_uid(doc.path, doc.create_time)
    if not plan.created:
        message = f"Failed to update deployment: {error}"[:1000]
        store.record([event_for(doc.namespace, doc.name, uid, "FailedUpdate", message, "Warning")], now)
        return
    message = f'Failed to create new replica set "{plan.created[0]}": {error}'[:1000]
    event = event_for(doc.namespace, doc.name, uid, FAILED_RS_CREATE, message, "Warning")
    status = as_dict(doc.data.get("status"))
    conditions = [c for c in as_list(status.get("conditions")) if isinstance(c, dict)]
    deadline = as_dict(doc.data.get("spec")).get("progressDeadlineSeconds", 600)
    updated = set_condition(conditions, condition(PROGRESSING, "False", FAILED_RS_CREATE, message, now))
    if deadline == NO_LIMIT or same_data(updated, conditions):
        store.record([event], now)
        return
    try:
        fields = ({"status.conditions": updated} if isinstance(doc.data.get("status"), dict)
                  else {"status": {"conditions": updated}})
        store.commit([Update(doc.path, fields, if_updated_at=doc.update_time), event], now)
    except (StaleWrite, gexc.InvalidArgument, gexc.PermissionDenied, gexc.ResourceExhausted):
        store.record([event], now)  # the next pass (the change that made this stale) decides again


def _log_plan(namespace: str, name: str, plan: DeploymentPlan) -> None:
    if plan.errors:
        log.warning("invalid spec", extra=ref_fields(KIND, namespace, name, errors=plan.errors))
        return
    log.info("deployment synced", extra=ref_fields(
        KIND, namespace, name, created=plan.created, scaled=plan.scaled, deleted=plan.deleted,
        adopted=plan.adopted, released=plan.released, collision=plan.collision,
    ))


def cascade_delete_deployment(store: Store, namespace: str, name: str, uid: str, clock: Clock,
                              old: Any = None) -> int:
    """A deleted Deployment's ReplicaSets are deleted (their own triggers cascade the pods),
    in batches; only a stale batch (a ReplicaSet changed under it) uses up an attempt.
    Only those its owner reference still controls: ReplicaSets an ``orphan`` deletion
    released are not taken, and a deleted document that was orphaning (``old``) takes none."""
    if orphaning(old):
        return 0
    deleted = 0
    stale = 0
    while stale < MAX_ATTEMPTS:
        owned = [doc for doc in store.in_namespace(namespace, REPLICA_SETS)
                 if RS.from_doc(doc).controller_uid() == uid]
        if not owned:
            return deleted
        batch = owned[:CASCADE_BATCH]
        try:
            store.commit([Delete(doc.path, if_updated_at=doc.update_time) for doc in batch], clock())
        except StaleWrite:
            stale += 1
            continue
        deleted += len(batch)
        log.info("deployment deleted: deleting its replica sets",
                 extra=ref_fields(KIND, namespace, name, deleting=[d.name for d in batch]))
    raise Contention(f"{KIND} {namespace}/{name}: cascade did not commit in {MAX_ATTEMPTS} attempts")


def deployment_at_rest(doc: Doc | dict[str, Any]) -> bool:
    """Whether resync may skip this Deployment: its last pass saw this very spec and no
    timer is pending (no progress deadline to check). True when the rollout is complete
    (or paused, or without a deadline) with every replica updated and available, when the
    deadline has already been reported, and when the spec is invalid (reported)."""
    data = doc.data if isinstance(doc, Doc) else doc
    if being_deleted(data):
        return False  # its pass has work: its ReplicaSets, then its own document
    status = as_dict(data.get("status"))
    if status.get("specHash") != spec_hash(data.get("spec")):
        return False
    conditions = [c for c in as_list(status.get("conditions")) if isinstance(c, dict)]
    failure = get_condition(conditions, REPLICA_FAILURE)
    if failure is not None and failure.get("reason") == INVALID_SPEC:
        return True
    progressing = get_condition(conditions, PROGRESSING)
    reason = progressing.get("reason") if progressing is not None else None
    if reason == TIMED_OUT:
        return True
    spec = as_dict(data.get("spec"))
    deadline = spec.get("progressDeadlineSeconds", 600)
    if not (reason == NEW_RS_AVAILABLE or spec.get("paused") is True or deadline == NO_LIMIT):
        return False
    replicas = as_int(spec.get("replicas"), 1)
    return (as_int(status.get("updatedReplicas")) == as_int(status.get("replicas")) == as_int(status.get("availableReplicas"))
            == replicas)


