"""The deployment controller: a Deployment's ReplicaSets, scaled per its strategy.

A port of Kubernetes' ``pkg/controller/deployment`` (``sync.go``, ``rolling.go``,
``recreate.go``, ``progress.go``, ``util/deployment_util.go``). ``plan_deployment`` is
one ``syncDeployment``, a pure function of the Deployment, the namespace's ReplicaSets,
(for Recreate) the pods and the time: what Kubernetes does with several API calls it
decides as writes, and ``sync_deployment`` commits them at once, the Deployment's write
guarded by its ``update_time`` and each ReplicaSet's by its own. Of two concurrent
passes one commits; the other re-reads. A pass never waits: the next step is the next
pass, triggered by the change this one made or by a ReplicaSet's status moving.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cmp_to_key
from typing import Any

from google.api_core import exceptions as gexc

from functions.api.controller import spec_hash
from functions.api.deployment import (
    API_VERSION,
    DESIRED_REPLICAS,
    KIND,
    MAX_REPLICAS,
    NO_LIMIT,
    NOT_COPIED,
    RECREATE,
    REVISION,
    REVISION_HISTORY,
    Deployment,
    parse_deployment,
)
from functions.api.podtemplatehash import (
    HASH_LABEL,
    equal_ignore_hash,
    pod_template_hash,
    with_hash,
)
from functions.logs import ref_fields
from functions.objects import Contention, object_uid, same_data
from functions.objects import event_for as object_event
from functions.pod_policy import PodInfo
from functions.store import (
    DEPLOYMENTS,
    REPLICA_SETS,
    Create,
    Delete,
    Doc,
    RecordEvent,
    StaleWrite,
    Store,
    Update,
    Write,
    doc_path,
)

log = logging.getLogger("firecontrol.deployments")

RS_KIND = "ReplicaSet"
MAX_ATTEMPTS = 12
REVISION_HISTORY_CHARS = 2000  # maxRevHistoryLengthInChars

PROGRESSING = "Progressing"
AVAILABLE = "Available"
REPLICA_FAILURE = "ReplicaFailure"
# Progressing reasons (util/deployment_util.go)
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_REPLICA_SET = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
# Available reasons
MINIMUM_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_UNAVAILABLE = "MinimumReplicasUnavailable"
INVALID_SPEC = "InvalidSpec"

Clock = Callable[[], datetime]


def deployment_uid(path: str, create_time: datetime) -> str:
    return object_uid(path, create_time)


def owner_ref(name: str, uid: str) -> dict[str, Any]:
    """The exact owner reference a Deployment puts on its ReplicaSets."""
    return {"apiVersion": API_VERSION, "kind": KIND, "name": name, "uid": uid, "controller": True, "blockOwnerDeletion": True}


def event_for(namespace: str, name: str, uid: str, reason: str, message: str, type_: str = "Normal") -> RecordEvent:
    return object_event(KIND, namespace, name, uid, reason, message, type_)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def revision_of(rs: Doc | dict[str, Any]) -> int | None:
    """A ReplicaSet's ``deployment.kubernetes.io/revision``, or None when unset or not a number."""
    data = rs.data if isinstance(rs, Doc) else rs
    value = _dict(_dict(data.get("metadata")).get("annotations")).get(REVISION)
    if not isinstance(value, str):
        return None
    try:
        return int(value)
    except ValueError:
        return None


# -- ReplicaSets as the pass sees (and changes) them ---------------------------------


@dataclass
class RS:
    """One ReplicaSet: its spec fields the pass may change, and the status it reads."""

    path: str
    name: str
    uid: str
    created: datetime
    replicas: int
    annotations: dict[str, str]
    min_ready_seconds: int
    template: Any
    labels: dict[str, str]
    owner_references: list[dict[str, Any]]
    status_replicas: int = 0
    ready: int = 0
    available: int = 0
    terminating: int = 0
    observed: bool = True  # its pass has seen its current spec (generation <= observedGeneration)
    failure: dict[str, Any] | None = None
    being_deleted: bool = False
    doc: Doc | None = None  # None: created by this pass
    delete: bool = False
    selector: dict[str, Any] | None = None  # a created one's spec.selector

    @classmethod
    def from_doc(cls, doc: Doc) -> RS:
        meta, spec, status = (_dict(doc.data.get(k)) for k in ("metadata", "spec", "status"))
        created = meta.get("creationTimestamp")
        failure = next(
            (c for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("type") == REPLICA_FAILURE),
            None,
        )
        return cls(
            path=doc.path,
            name=doc.name,
            uid=object_uid(doc.path, doc.create_time),
            created=created if isinstance(created, datetime) else doc.create_time,
            replicas=_int(spec.get("replicas"), 1),
            annotations={k: v for k, v in _dict(meta.get("annotations")).items() if isinstance(v, str)},
            min_ready_seconds=_int(spec.get("minReadySeconds")),
            template=spec.get("template"),
            labels={k: v for k, v in _dict(meta.get("labels")).items() if isinstance(v, str)},
            owner_references=[r for r in meta.get("ownerReferences") or [] if isinstance(r, dict)],
            status_replicas=_int(status.get("replicas")),
            ready=_int(status.get("readyReplicas")),
            available=_int(status.get("availableReplicas")),
            terminating=_int(status.get("terminatingReplicas")),
            observed=status.get("specHash") == spec_hash(doc.data.get("spec")),
            failure=failure,
            being_deleted=meta.get("deletionTimestamp") is not None,
            doc=doc,
        )

    def controller_uid(self) -> str | None:
        ref = next((r for r in self.owner_references if r.get("controller") is True), None)
        return ref.get("uid") if ref is not None else None

    @property
    def revision(self) -> int | None:
        value = self.annotations.get(REVISION)
        try:
            return int(value) if value is not None else 0
        except ValueError:
            return None

    def writes(self) -> list[Write]:
        """What changed, as one guarded write (or the create, or the delete)."""
        if self.doc is None:
            return []  # its Create is made by the pass
        if self.delete:
            return [Delete(self.path, if_updated_at=self.doc.update_time)]
        original = RS.from_doc(self.doc)
        fields: dict[str, Any] = {}
        if self.replicas != original.replicas:
            fields["spec.replicas"] = self.replicas
        if self.min_ready_seconds != original.min_ready_seconds:
            fields["spec.minReadySeconds"] = self.min_ready_seconds
        if self.annotations != original.annotations:
            fields["metadata.annotations"] = dict(self.annotations)
        if self.owner_references != original.owner_references:
            fields["metadata.ownerReferences"] = list(self.owner_references)
        return [Update(self.path, fields, if_updated_at=self.doc.update_time)] if fields else []


def _by_creation(a: RS, b: RS) -> int:
    """``ReplicaSetsByCreationTimestamp``: older first, then by name."""
    if a.created != b.created:
        return -1 if a.created < b.created else 1
    return (a.name > b.name) - (a.name < b.name)


def _by_size(newer_first: bool) -> Callable[[RS, RS], int]:
    """``ReplicaSetsBySizeNewer`` / ``...Older``: larger first; equal sizes by age."""

    def compare(a: RS, b: RS) -> int:
        if a.replicas != b.replicas:
            return -1 if a.replicas > b.replicas else 1
        return _by_creation(b, a) if newer_first else _by_creation(a, b)

    return compare


def _by_revision(a: RS, b: RS) -> int:
    ra, rb = a.revision, b.revision
    if ra is None or rb is None or ra == rb:
        return _by_creation(a, b)
    return -1 if ra < rb else 1


def _active(sets: Sequence[RS | None]) -> list[RS]:
    return [rs for rs in sets if rs is not None and rs.replicas > 0]


def _round(value: float) -> int:
    """Go's ``math.Round``: halves away from zero."""
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


# -- conditions ------------------------------------------------------------------------


def _condition(type_: str, status: str, reason: str, message: str, now: datetime) -> dict[str, Any]:
    return {"type": type_, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def get_condition(conditions: Sequence[dict[str, Any]], type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def _set_condition(conditions: list[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    """``SetDeploymentCondition``: no change for the same status and reason; the transition
    time kept while the status stays."""
    old = get_condition(conditions, new["type"])
    if old is not None and old.get("status") == new["status"] and old.get("reason") == new["reason"]:
        return conditions
    if old is not None and old.get("status") == new["status"]:
        new = {**new, "lastTransitionTime": old.get("lastTransitionTime")}
    return [*(c for c in conditions if c.get("type") != new["type"]), new]


def _remove_condition(conditions: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [c for c in conditions if c.get("type") != type_]


# -- the plan --------------------------------------------------------------------------


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


class _Pass:
    """One ``syncDeployment`` over in-memory copies; ``writes()`` is what it changed."""

    def __init__(self, doc: Doc, d: Deployment, sets: list[RS], all_sets: list[RS],
                 pods: Sequence[PodInfo], now: datetime, generation: int, digest: str) -> None:
        self.doc, self.d, self.spec, self.now = doc, d, d.spec, now
        self.name, self.namespace = doc.name, doc.namespace
        self.uid = deployment_uid(doc.path, doc.create_time)
        self.sets = sets  # this Deployment's ReplicaSets (after adoption and release)
        self.all_sets = all_sets  # every ReplicaSet of the namespace (names taken)
        self.pods = pods
        self.generation, self.digest = generation, digest
        self.old_status = _dict(doc.data.get("status"))
        status = dict(self.old_status)
        status["conditions"] = [dict(c) for c in status.get("conditions") or [] if isinstance(c, dict)]
        # The Deployment's own InvalidSpec is the pass's to clear once the spec is valid.
        status["conditions"] = [c for c in status["conditions"]
                                if not (c.get("type") == REPLICA_FAILURE and c.get("reason") == INVALID_SPEC)]
        self.status = status
        self.annotations = {k: v for k, v in _dict(_dict(doc.data.get("metadata")).get("annotations")).items()
                            if isinstance(v, str)}
        self.events: list[RecordEvent] = []
        self.creates: list[RS] = []
        self.scaled: list[str] = []
        self.collision = False

    # status helpers
    @property
    def conditions(self) -> list[dict[str, Any]]:
        conditions: list[dict[str, Any]] = self.status["conditions"]
        return conditions

    def _set(self, condition: dict[str, Any]) -> None:
        self.status["conditions"] = _set_condition(self.conditions, condition)

    def old_status_int(self, key: str) -> int:
        return _int(self.old_status.get(key))

    @property
    def collision_count(self) -> int | None:
        value = self.status.get("collisionCount")
        return value if isinstance(value, int) else None

    # -- syncDeployment
    def run(self) -> None:
        self.check_paused_conditions()
        new, old = self.sync_revision()
        if self.spec.paused or self.is_scaling_event(new, old):
            self.sync(new, old)
        elif self.spec.strategy.type == RECREATE:
            self.rollout_recreate(new, old)
        else:
            self.rollout_rolling(new, old)

    def check_paused_conditions(self) -> None:
        if not self.spec.has_progress_deadline:
            return
        cond = get_condition(self.conditions, PROGRESSING)
        if cond is not None and cond.get("reason") == TIMED_OUT:
            return  # a reported lack of progress is not overwritten by a pause
        paused_exists = cond is not None and cond.get("reason") == PAUSED
        if self.spec.paused and not paused_exists:
            self._set(_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", self.now))
        elif not self.spec.paused and paused_exists:
            self._set(_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", self.now))

    # -- getAllReplicaSetsAndSyncRevision
    def find_new(self) -> RS | None:
        """``FindNewReplicaSet``: the oldest with the Deployment's template."""
        for rs in sorted(self.sets, key=cmp_to_key(_by_creation)):
            if not rs.delete and equal_ignore_hash(rs.template, self.doc.data["spec"]["template"]):
                return rs
        return None

    def old_sets(self, new: RS | None) -> list[RS]:
        return [rs for rs in self.sets if rs is not new and not rs.delete]

    def new_revision(self, old: list[RS]) -> str:
        return str(max([r for r in (rs.revision for rs in old) if r is not None], default=0) + 1)

    def sync_revision(self) -> tuple[RS | None, list[RS]]:
        """The existing new ReplicaSet's annotations and minReadySeconds brought up to date,
        and its revision copied to the Deployment; no ReplicaSet is made here."""
        new = self.find_new()
        old = self.old_sets(new)
        if new is None:
            return None, old
        self.set_new_rs_annotations(new, self.new_revision(old), exists=True)
        new.min_ready_seconds = self.spec.min_ready_seconds
        self.set_revision(new.annotations.get(REVISION, ""))
        if self.spec.has_progress_deadline and get_condition(self.conditions, PROGRESSING) is None:
            message = f'Found new replica set "{new.name}"'
            self._set(_condition(PROGRESSING, "True", FOUND_NEW_RS, message, self.now))
        return new, old

    def set_revision(self, revision: str) -> None:
        if self.annotations.get(REVISION) != revision:
            self.annotations[REVISION] = revision

    def set_new_rs_annotations(self, rs: RS, new_revision: str, exists: bool) -> None:
        """``SetNewReplicaSetAnnotations``: the Deployment's annotations copied (but the
        skipped ones), the revision raised to ``new_revision`` (the old one kept in the
        history when it is a rollback to this ReplicaSet)."""
        for key, value in self.annotations.items():
            if key not in NOT_COPIED:
                rs.annotations[key] = value
        old_text = rs.annotations.get(REVISION)
        try:
            old_revision = int(old_text) if old_text is not None else 0
        except ValueError:
            return
        if old_revision < int(new_revision):
            rs.annotations[REVISION] = new_revision
            if old_text is not None:
                history = rs.annotations.get(REVISION_HISTORY, "")
                revisions = [r for r in history.split(",") if r] + [old_text]
                while len(",".join(revisions)) > REVISION_HISTORY_CHARS and len(revisions) > 1:
                    revisions.pop(0)
                rs.annotations[REVISION_HISTORY] = ",".join(revisions)
        if not exists:
            self.set_replicas_annotations(rs)

    def set_replicas_annotations(self, rs: RS) -> None:
        rs.annotations[DESIRED_REPLICAS] = str(self.spec.replicas)
        rs.annotations[MAX_REPLICAS] = str(self.spec.replicas + self.spec.max_surge())

    def create_new(self, old: list[RS]) -> RS | None:
        """The new ReplicaSet, ``{deployment}-{hash}``, sized by ``NewRSNewReplicas``; a
        name held by another template raises ``collisionCount`` (the next pass tries the
        next name) and nothing else happens in this pass."""
        template = self.doc.data["spec"]["template"]
        hash_ = pod_template_hash(template, self.collision_count)
        name = f"{self.name}-{hash_}"
        taken = next((rs for rs in self.all_sets if rs.name == name), None)
        if taken is not None:
            if taken.controller_uid() == self.uid and equal_ignore_hash(taken.template, template):
                return taken  # ours after all (e.g. read just as it was released)
            self.status["collisionCount"] = (self.collision_count or 0) + 1
            self.collision = True
            log.info("hash collision: raising collisionCount",
                     extra=ref_fields(KIND, self.namespace, self.name, replica_set=name,
                                      collision_count=self.status["collisionCount"]))
            return None
        path = doc_path(self.namespace, REPLICA_SETS, name)
        selector = self.spec.label_selector.to_doc()
        selector["matchLabels"] = {**selector.get("matchLabels", {}), HASH_LABEL: hash_}
        rs_template = with_hash(template, hash_)
        rs = RS(path=path, name=name, uid="", created=self.now, replicas=0, annotations={},
                min_ready_seconds=self.spec.min_ready_seconds, template=rs_template,
                labels=dict(rs_template["metadata"]["labels"]), owner_references=[owner_ref(self.name, self.uid)])
        rs.replicas = self.new_rs_new_replicas([*old, rs], rs)
        self.set_new_rs_annotations(rs, self.new_revision(old), exists=False)
        rs.selector = selector
        self.creates.append(rs)
        self.sets.append(rs)
        if rs.replicas > 0:
            self.events.append(self.event("ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {rs.replicas}"))
        self.set_revision(rs.annotations[REVISION])
        if self.spec.has_progress_deadline:
            self._set(_condition(PROGRESSING, "True", NEW_REPLICA_SET, f'Created new replica set "{name}"', self.now))
        return rs

    def rs_document(self, rs: RS) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": rs.name, "namespace": self.namespace, "labels": rs.labels,
            "annotations": dict(rs.annotations), "ownerReferences": rs.owner_references,
            "creationTimestamp": self.now,
        }
        return {
            "apiVersion": API_VERSION, "kind": RS_KIND, "metadata": metadata,
            "spec": {"replicas": rs.replicas, "minReadySeconds": rs.min_ready_seconds,
                     "selector": rs.selector, "template": rs.template},
        }

    def new_rs_new_replicas(self, all_sets: list[RS], new: RS) -> int:
        """``NewRSNewReplicas``."""
        if self.spec.strategy.type == RECREATE:
            return self.spec.replicas
        max_total = self.spec.replicas + self.spec.max_surge()
        current = sum(rs.replicas for rs in all_sets)
        if current >= max_total:
            return new.replicas
        return new.replicas + min(max_total - current, self.spec.replicas - new.replicas)

    # -- scaling
    def scale_rs(self, rs: RS, size: int, operation: str | None = None) -> bool:
        """``scaleReplicaSet``: the size and the replicas annotations; an event if the size moved."""
        size_changed = rs.replicas != size
        desired, most = str(self.spec.replicas), str(self.spec.replicas + self.spec.max_surge())
        if size_changed or rs.annotations.get(DESIRED_REPLICAS) != desired or rs.annotations.get(MAX_REPLICAS) != most:
            old_size = rs.replicas
            rs.replicas = size
            self.set_replicas_annotations(rs)
            if size_changed:
                operation = operation or ("up" if size > old_size else "down")
                self.scaled.append(f"{rs.name} from {old_size} to {size}")
                self.events.append(self.event(
                    "ScalingReplicaSet", f"Scaled {operation} replica set {rs.name} from {old_size} to {size}"
                ))
        return size_changed

    def is_scaling_event(self, new: RS | None, old: list[RS]) -> bool:
        for rs in _active([*old, new]):
            desired = rs.annotations.get(DESIRED_REPLICAS)
            if desired is not None and desired.lstrip("-").isdigit() and int(desired) != self.spec.replicas:
                return True
        return False

    def is_saturated(self, rs: RS | None) -> bool:
        if rs is None:
            return False
        desired = rs.annotations.get(DESIRED_REPLICAS, "")
        return (desired.lstrip("-").isdigit() and int(desired) == self.spec.replicas
                and rs.replicas == self.spec.replicas and rs.available == self.spec.replicas)

    def scale(self, new: RS | None, old: list[RS]) -> None:
        """Proportional scaling, for a scaling event or a paused Deployment."""
        latest = self.find_active_or_latest(new, old)
        if latest is not None:
            if latest.replicas != self.spec.replicas:
                self.scale_rs(latest, self.spec.replicas)
            return
        if self.is_saturated(new):
            for rs in _active(old):
                self.scale_rs(rs, 0)
            return
        if not self.spec.rolling:
            return
        sets = _active([*old, new])
        allowed = self.spec.replicas + self.spec.max_surge() if self.spec.replicas > 0 else 0
        to_add = allowed - sum(rs.replicas for rs in sets)
        operation = None
        if to_add > 0:
            sets.sort(key=cmp_to_key(_by_size(newer_first=True)))
            operation = "up"
        elif to_add < 0:
            sets.sort(key=cmp_to_key(_by_size(newer_first=False)))
            operation = "down"
        added = 0
        sizes: dict[str, int] = {}
        for rs in sets:
            if to_add != 0:
                proportion = self.proportion(rs, to_add, added)
                sizes[rs.name] = rs.replicas + proportion
                added += proportion
            else:
                sizes[rs.name] = rs.replicas
        for index, rs in enumerate(sets):
            if index == 0 and to_add != 0:
                sizes[rs.name] = max(0, sizes[rs.name] + to_add - added)  # leftovers to the largest
            self.scale_rs(rs, sizes[rs.name], operation)

    def find_active_or_latest(self, new: RS | None, old: list[RS]) -> RS | None:
        if new is None and not old:
            return None
        newest_first = sorted(old, key=cmp_to_key(_by_creation), reverse=True)
        active = _active([*newest_first, new])
        if not active:
            return new if new is not None else newest_first[0]
        return active[0] if len(active) == 1 else None

    def proportion(self, rs: RS, to_add: int, added: int) -> int:
        """``GetProportion``."""
        if rs.replicas == 0 or to_add == 0 or to_add == added:
            return 0
        fraction = self.fraction(rs)
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    def fraction(self, rs: RS) -> int:
        """``getReplicaSetFraction``: this ReplicaSet's share of the new size."""
        if self.spec.replicas == 0:
            return -rs.replicas
        total = self.spec.replicas + self.spec.max_surge()
        annotated_text = rs.annotations.get(MAX_REPLICAS, "")
        annotated = int(annotated_text) if annotated_text.isdigit() else self.old_status_int("replicas")
        if annotated <= 0:
            return 0
        return _round(rs.replicas * total / annotated) - rs.replicas

    # -- sync (paused, or a scaling event)
    def sync(self, new: RS | None, old: list[RS]) -> None:
        self.scale(new, old)
        if self.spec.paused:
            self.cleanup(old)
        self.sync_status([*old, new], new, progress=False)

    # -- RollingUpdate
    def rollout_rolling(self, new: RS | None, old: list[RS]) -> None:
        if new is None:
            new = self.create_new(old)
            if new is None:
                return  # a collision: only collisionCount is written, the next pass goes on
        all_sets: list[RS | None] = [*old, new]
        if self.reconcile_new(all_sets, new) or self.reconcile_old(all_sets, _active(old), new):
            self.sync_status(all_sets, new, progress=True)
            return
        if self.complete(self.old_status):
            self.cleanup(old)
        self.sync_status(all_sets, new, progress=True)

    def reconcile_new(self, all_sets: list[RS | None], new: RS) -> bool:
        if new.replicas == self.spec.replicas:
            return False
        if new.replicas > self.spec.replicas:
            return self.scale_rs(new, self.spec.replicas)
        return self.scale_rs(new, self.new_rs_new_replicas([rs for rs in all_sets if rs is not None], new))

    def reconcile_old(self, all_sets: list[RS | None], old: list[RS], new: RS) -> bool:
        if sum(rs.replicas for rs in old) == 0:
            return False
        all_pods = sum(rs.replicas for rs in all_sets if rs is not None)
        min_available = self.spec.replicas - self.spec.max_unavailable()
        new_unavailable = new.replicas - new.available
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = self.cleanup_unhealthy(old, max_scaled_down)
        scaled_down = self.scale_down_old_rolling([*old, new], old)
        return cleaned + scaled_down > 0

    def cleanup_unhealthy(self, old: list[RS], max_cleanup: int) -> int:
        """Old ReplicaSets' unavailable pods go first: they cost no availability."""
        total = 0
        for rs in sorted(old, key=cmp_to_key(_by_creation)):
            if total >= max_cleanup:
                break
            if rs.replicas == 0 or rs.replicas == rs.available:
                continue
            count = min(max_cleanup - total, rs.replicas - rs.available)
            self.scale_rs(rs, rs.replicas - count)
            total += count
        return total

    def scale_down_old_rolling(self, all_sets: list[RS], old: list[RS]) -> int:
        min_available = self.spec.replicas - self.spec.max_unavailable()
        available = sum(rs.available for rs in all_sets)
        if available <= min_available:
            return 0
        total, goal = 0, available - min_available
        for rs in sorted(old, key=cmp_to_key(_by_creation)):
            if total >= goal:
                break
            if rs.replicas == 0:
                continue
            count = min(rs.replicas, goal - total)
            self.scale_rs(rs, rs.replicas - count)
            total += count
        return total

    # -- Recreate
    def rollout_recreate(self, new: RS | None, old: list[RS]) -> None:
        scaled = False
        for rs in _active(old):
            scaled = self.scale_rs(rs, 0) or scaled
        if scaled or self.old_pods_running(new, old):
            self.sync_status([*old, new], new, progress=True)
            return
        if new is None:
            new = self.create_new(old)
            if new is None:
                return
        self.scale_rs(new, self.spec.replicas)
        if self.complete(self.old_status):
            self.cleanup(old)
        self.sync_status([*old, new], new, progress=True)

    def old_pods_running(self, new: RS | None, old: list[RS]) -> bool:
        """Any old pod still there: counted by an old ReplicaSet (running or terminating),
        one its pass has not yet caught up with, or a pod document an old one owns."""
        if any(rs.status_replicas > 0 or rs.terminating > 0 or not rs.observed for rs in old):
            return True
        old_uids = {rs.uid for rs in old}
        return any((p.controller_ref() or {}).get("uid") in old_uids for p in self.pods)

    # -- cleanupDeployment
    def cleanup(self, old: list[RS]) -> None:
        if not self.spec.has_history_limit:
            return
        cleanable = [rs for rs in old if not rs.being_deleted and not rs.delete and rs.doc is not None]
        diff = len(cleanable) - self.spec.revision_history_limit
        if diff <= 0:
            return
        for rs in sorted(cleanable, key=cmp_to_key(_by_revision))[:diff]:
            if rs.status_replicas != 0 or rs.replicas != 0 or not rs.observed or rs.being_deleted:
                continue
            rs.delete = True
            log.info("deleting an old replica set", extra=ref_fields(KIND, self.namespace, self.name, replica_set=rs.name))

    # -- status
    def complete(self, status: dict[str, Any]) -> bool:
        """``DeploymentComplete``: every desired replica updated and available, no old one."""
        replicas = self.spec.replicas
        return (_int(status.get("updatedReplicas")) == replicas and _int(status.get("replicas")) == replicas
                and _int(status.get("availableReplicas")) == replicas
                and _int(status.get("observedGeneration")) >= self.generation)

    def calculate_status(self, sets: list[RS | None], new: RS | None) -> None:
        live = [rs for rs in sets if rs is not None]
        available = sum(rs.available for rs in live)
        total = sum(rs.replicas for rs in live)
        self.status.update({
            "observedGeneration": self.generation,
            "replicas": sum(rs.status_replicas for rs in live),
            "updatedReplicas": new.status_replicas if new is not None else 0,
            "readyReplicas": sum(rs.ready for rs in live),
            "availableReplicas": available,
            "unavailableReplicas": max(0, total - available),
            "terminatingReplicas": sum(rs.terminating for rs in live),
            "specHash": self.digest,
        })
        if available >= self.spec.replicas - self.spec.max_unavailable():
            self._set(_condition(AVAILABLE, "True", MINIMUM_AVAILABLE, "Deployment has minimum availability.", self.now))
        else:
            self._set(_condition(AVAILABLE, "False", MINIMUM_UNAVAILABLE,
                                 "Deployment does not have minimum availability.", self.now))

    def sync_status(self, sets: list[RS | None], new: RS | None, progress: bool) -> None:
        """``syncDeploymentStatus``, or with ``progress`` ``syncRolloutStatus``."""
        self.calculate_status(sets, new)
        if not progress:
            return
        current = get_condition(self.conditions, PROGRESSING)
        if not self.spec.has_progress_deadline:
            self.status["conditions"] = _remove_condition(self.conditions, PROGRESSING)
        settled = (_int(self.status.get("replicas")) == _int(self.status.get("updatedReplicas"))
                   and current is not None and current.get("reason") == NEW_RS_AVAILABLE)
        subject = f'ReplicaSet "{new.name}"' if new is not None else f'Deployment "{self.name}"'
        if self.spec.has_progress_deadline and not settled:
            if self.complete(self.status):
                self._set(_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, f"{subject} has successfully progressed.", self.now))
            elif self.progressing():
                condition = _condition(PROGRESSING, "True", REPLICA_SET_UPDATED, f"{subject} is progressing.", self.now)
                existing = get_condition(self.conditions, PROGRESSING)
                if existing is not None:
                    if existing.get("status") == "True":
                        condition["lastTransitionTime"] = existing.get("lastTransitionTime")
                    self.status["conditions"] = _remove_condition(self.conditions, PROGRESSING)
                self._set(condition)
            elif self.timed_out():
                self._set(_condition(PROGRESSING, "False", TIMED_OUT, f"{subject} has timed out progressing.", self.now))
        failure = self.replica_failure(sets, new)
        if failure is not None:
            self._set(failure)
        else:
            self.status["conditions"] = _remove_condition(self.conditions, REPLICA_FAILURE)

    def progressing(self) -> bool:
        """``DeploymentProgressing``: new pods up, old pods down, more ready or available."""
        old, new = self.old_status, self.status
        old_old = _int(old.get("replicas")) - _int(old.get("updatedReplicas"))
        new_old = _int(new.get("replicas")) - _int(new.get("updatedReplicas"))
        return (_int(new.get("updatedReplicas")) > _int(old.get("updatedReplicas")) or new_old < old_old
                or _int(new.get("readyReplicas")) > _int(old.get("readyReplicas"))
                or _int(new.get("availableReplicas")) > _int(old.get("availableReplicas")))

    def timed_out(self) -> bool:
        """``DeploymentTimedOut``: no progress reported for ``progressDeadlineSeconds``."""
        condition = get_condition(self.conditions, PROGRESSING)
        if condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
            return False
        if condition.get("reason") == TIMED_OUT:
            return True
        since = condition.get("lastUpdateTime")
        if not isinstance(since, datetime):
            return False
        return since + timedelta(seconds=self.spec.progress_deadline_seconds) < self.now

    def replica_failure(self, sets: list[RS | None], new: RS | None) -> dict[str, Any] | None:
        """The new ReplicaSet's ReplicaFailure, else an old one's, as the Deployment's."""
        for rs in [new, *(s for s in sets if s is not new)]:
            if rs is not None and rs.failure is not None:
                since = rs.failure.get("lastTransitionTime")
                return {"type": REPLICA_FAILURE, "status": rs.failure.get("status", "True"),
                        "lastUpdateTime": since, "lastTransitionTime": since,
                        "reason": rs.failure.get("reason"), "message": rs.failure.get("message")}
        return None

    def event(self, reason: str, message: str, type_: str = "Normal") -> RecordEvent:
        return event_for(self.namespace, self.name, self.uid, reason, message, type_)


def _generation(doc: Doc) -> tuple[int, str]:
    """``metadata.generation``, advanced when the spec's hash moved since the last pass."""
    digest = spec_hash(doc.data.get("spec"))
    meta = _dict(doc.data.get("metadata"))
    current = meta.get("generation") if isinstance(meta.get("generation"), int) else None
    if digest != _dict(doc.data.get("status")).get("specHash"):
        return (current or 0) + 1, digest
    return current or 1, digest


def _deployment_writes(doc: Doc, uid: str, generation: int, status: dict[str, Any],
                       annotations: dict[str, str] | None, others: bool) -> list[Write]:
    """The Deployment's guarded write: status, uid, generation, revision annotation, and a
    new resourceVersion whenever anything is written, so a concurrent pass's guard fails."""
    fields: dict[str, Any] = {}
    if not same_data(status, doc.data.get("status")):
        fields["status"] = status
    meta = doc.data.get("metadata")
    if isinstance(meta, dict):
        for key, value in (("uid", uid), ("generation", generation)):
            if meta.get(key) != value:
                fields[f"metadata.{key}"] = value
        if annotations is not None and annotations != _dict(meta.get("annotations")):
            fields["metadata.annotations"] = annotations
        if fields or others:
            version = meta.get("resourceVersion")
            number = int(version) if isinstance(version, str) and version.isdigit() else 0
            fields["metadata.resourceVersion"] = str(number + 1)
    if not fields:
        return []
    return [Update(doc.path, fields, if_updated_at=doc.update_time)]


def _invalid(doc: Doc, uid: str, generation: int, digest: str, errors: list[str], now: datetime) -> DeploymentPlan:
    """A Deployment the pass cannot act on: say why, touch no ReplicaSet."""
    message = "; ".join(errors)[:1000]
    status = dict(_dict(doc.data.get("status")))
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    old = get_condition(conditions, REPLICA_FAILURE)
    new = _condition(REPLICA_FAILURE, "True", INVALID_SPEC, message, now)
    if old is not None and (old.get("reason"), old.get("message")) == (INVALID_SPEC, message):
        new = old
    status.update({"observedGeneration": generation, "specHash": digest,
                   "conditions": [*(c for c in conditions if c.get("type") != REPLICA_FAILURE), new]})
    writes = _deployment_writes(doc, uid, generation, status, None, others=False)
    if writes and new is not old:
        writes.append(event_for(doc.namespace, doc.name, uid, INVALID_SPEC, message, "Warning"))
    return DeploymentPlan(writes=writes, errors=errors)


def _claim(d: Deployment, uid: str, sets: list[RS], being_deleted: bool) -> tuple[list[RS], list[str], list[str]]:
    """``ClaimReplicaSets``: ours that still match, orphans that match (adopted); ours
    that no longer match are released."""
    selector = d.spec.label_selector
    ref = owner_ref(d.name, uid)
    mine: list[RS] = []
    adopted: list[str] = []
    released: list[str] = []
    for rs in sets:
        controller = rs.controller_uid()
        matches = selector.matches(rs.labels)
        if controller is not None:
            if controller != uid:
                continue
            if matches:
                mine.append(rs)
            elif not being_deleted:
                rs.owner_references = [r for r in rs.owner_references if r.get("uid") != uid]
                released.append(rs.name)
        elif matches and not being_deleted and not rs.being_deleted:
            rs.owner_references = [*rs.owner_references, ref]
            adopted.append(rs.name)
            mine.append(rs)
    return mine, adopted, released


def plan_deployment(
    deployment: Doc, replica_sets: Sequence[Doc], pods: Sequence[PodInfo], now: datetime,
    max_replicas: int | None = None,
) -> DeploymentPlan:
    """Decide one pass of a Deployment over the namespace's ReplicaSets (and, for
    Recreate, the pods of its ReplicaSets), as Kubernetes' ``syncDeployment``."""
    uid = deployment_uid(deployment.path, deployment.create_time)
    generation, digest = _generation(deployment)
    parsed = parse_deployment(deployment.data, deployment.namespace, deployment.name, max_replicas)
    if parsed.obj is None or parsed.errors:
        return _invalid(deployment, uid, generation, digest, parsed.errors, now)
    d = parsed.obj
    everything = [RS.from_doc(doc) for doc in replica_sets]
    meta = _dict(deployment.data.get("metadata"))
    being_deleted = meta.get("deletionTimestamp") is not None
    mine, adopted, released = _claim(d, uid, everything, being_deleted)
    one = _Pass(deployment, d, mine, everything, pods, now, generation, digest)
    if being_deleted:
        new = one.find_new()
        one.sync_status([*one.old_sets(new), new], new, progress=False)
    else:
        one.run()

    rs_writes: list[Write] = []
    for rs in everything:
        rs_writes += rs.writes()
    for rs in one.creates:
        rs_writes.append(Create(rs.path, one.rs_document(rs)))
    own = _deployment_writes(deployment, uid, generation, one.status, one.annotations, others=bool(rs_writes))
    if not own and not rs_writes:
        return DeploymentPlan(adopted=adopted, released=released)
    writes: list[Write] = [*own, *rs_writes, *one.events]
    if parsed.unknown and digest != _dict(deployment.data.get("status")).get("specHash"):
        message = "fields not supported, kept but ignored: " + ", ".join(parsed.unknown)
        writes.append(event_for(deployment.namespace, deployment.name, uid, "UnsupportedFields", message[:1000], "Warning"))
    return DeploymentPlan(
        writes=writes,
        created=[rs.name for rs in one.creates],
        scaled=one.scaled,
        deleted=[rs.name for rs in everything if rs.delete],
        adopted=adopted,
        released=released,
        collision=one.collision,
    )


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


def _strategy_type(doc: Doc) -> Any:
    return _dict(_dict(doc.data.get("spec")).get("strategy")).get("type")


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


def sync_deployment(store: Store, settings: Any, namespace: str, name: str, clock: Clock) -> DeploymentResult:
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
        plan = plan_deployment(doc, replica_sets, pods, now, getattr(settings, "max_replicas", None))
        result.invalid = bool(plan.errors)
        if not plan.writes:
            return result
        try:
            store.commit(plan.writes, now)
        except StaleWrite:
            continue
        except (gexc.InvalidArgument, gexc.PermissionDenied, gexc.ResourceExhausted) as error:
            result.failed = True
            message = f"Failed to update deployment: {error}"[:1000]
            log.error("sync failed", extra=ref_fields(KIND, namespace, name, error=str(error)))
            uid = deployment_uid(doc.path, doc.create_time)
            store.record([event_for(namespace, name, uid, FAILED_RS_CREATE if plan.created else "FailedUpdate",
                                    message, "Warning")], now)
            return result
        result.passes += 1
        result.created += len(plan.created)
        result.scaled += len(plan.scaled)
        result.deleted += len(plan.deleted)
        result.adopted += len(plan.adopted)
        result.released += len(plan.released)
        result.collisions += int(plan.collision)
        _log_plan(namespace, name, plan)
        return result
    raise Contention(f"{KIND} {namespace}/{name}: no pass committed in {MAX_ATTEMPTS} attempts")


def _log_plan(namespace: str, name: str, plan: DeploymentPlan) -> None:
    if plan.errors:
        log.warning("invalid spec", extra=ref_fields(KIND, namespace, name, errors=plan.errors))
        return
    log.info("deployment synced", extra=ref_fields(
        KIND, namespace, name, created=plan.created, scaled=plan.scaled, deleted=plan.deleted,
        adopted=plan.adopted, released=plan.released, collision=plan.collision,
    ))


def cascade_delete_deployment(store: Store, namespace: str, name: str, uid: str, clock: Clock) -> int:
    """A deleted Deployment's ReplicaSets are deleted (their own triggers cascade the pods)."""
    deleted = 0
    for _attempt in range(MAX_ATTEMPTS):
        owned = [doc for doc in store.in_namespace(namespace, REPLICA_SETS)
                 if RS.from_doc(doc).controller_uid() == uid]
        if not owned:
            return deleted
        try:
            store.commit([Delete(doc.path, if_updated_at=doc.update_time) for doc in owned[:400]], clock())
        except StaleWrite:
            continue
        deleted += len(owned[:400])
        log.info("deployment deleted: deleting its replica sets",
                 extra=ref_fields(KIND, namespace, name, deleting=[d.name for d in owned[:400]]))
    raise Contention(f"{KIND} {namespace}/{name}: cascade did not commit in {MAX_ATTEMPTS} attempts")


def deployment_at_rest(doc: Doc | dict[str, Any]) -> bool:
    """Whether resync may skip this Deployment: its last pass saw this very spec and no
    timer is pending (no progress deadline to check). True when the rollout is complete
    (or paused, or without a deadline) with every replica updated and available, when the
    deadline has already been reported, and when the spec is invalid (reported)."""
    data = doc.data if isinstance(doc, Doc) else doc
    status = _dict(data.get("status"))
    if status.get("specHash") != spec_hash(data.get("spec")):
        return False
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    failure = get_condition(conditions, REPLICA_FAILURE)
    if failure is not None and failure.get("reason") == INVALID_SPEC:
        return True
    progressing = get_condition(conditions, PROGRESSING)
    reason = progressing.get("reason") if progressing is not None else None
    if reason == TIMED_OUT:
        return True
    spec = _dict(data.get("spec"))
    deadline = spec.get("progressDeadlineSeconds", 600)
    if not (reason == NEW_RS_AVAILABLE or spec.get("paused") is True or deadline == NO_LIMIT):
        return False
    replicas = _int(spec.get("replicas"), 1)
    return (_int(status.get("updatedReplicas")) == _int(status.get("replicas")) == _int(status.get("availableReplicas"))
            == replicas)


