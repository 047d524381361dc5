"""A Deployment and its ReplicaSets as one pass sees them: in-memory copies it reads and
changes, whose differences become the pass's writes.

The helpers of Kubernetes' ``util/deployment_util.go`` and ``controller_utils.go`` that a
pass shares: which ReplicaSets are the Deployment's (``ClaimReplicaSets``), which one has
its template (``FindNewReplicaSet``), their orderings, revisions and the replicas
annotations. No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cmp_to_key
from typing import Any

from functions.api.controller import spec_hash
from functions.api.deployment import (
    API_VERSION,
    DESIRED_REPLICAS,
    KIND,
    MAX_REPLICAS,
    NOT_COPIED,
    RECREATE,
    REVISION,
    REVISION_HISTORY,
    Deployment,
)
from functions.api.podtemplatehash import equal_ignore_hash
from functions.controllers.deployment_conditions import INVALID_SPEC, REPLICA_FAILURE, set_condition
from functions.objects import event_for as object_event
from functions.objects import object_uid
from functions.pod_policy import PodInfo, as_dict, as_list
from functions.store import Delete, Doc, RecordEvent, Update, Write

REVISION_HISTORY_CHARS = 2000  # maxRevHistoryLengthInChars


def deployment_uid(path: str, create_time: datetime) -> str:
    return object_uid(path, create_time)


def owner_ref(name: str, uid: str) -> dict[str, Any]:
    """The exact owner reference a Deployment puts on its ReplicaSets."""
    return {"apiVersion": API_VERSION, "kind": KIND, "name": name, "uid": uid, "controller": True, "blockOwnerDeletion": True}


def event_for(namespace: str, name: str, uid: str, reason: str, message: str, type_: str = "Normal") -> RecordEvent:
    return object_event(KIND, namespace, name, uid, reason, message, type_)


def as_int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def revision_of(rs: Doc | dict[str, Any]) -> int | None:
    """A ReplicaSet's ``deployment.kubernetes.io/revision``, or None when unset or not a number."""
    data = rs.data if isinstance(rs, Doc) else rs
    value = as_dict(as_dict(data.get("metadata")).get("annotations")).get(REVISION)
    if not isinstance(value, str):
        return None
    try:
        return int(value)
    except ValueError:
        return None


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
        meta, spec, status = (as_dict(doc.data.get(k)) for k in ("metadata", "spec", "status"))
        created = meta.get("creationTimestamp")
        failure = next(
            (c for c in as_list(status.get("conditions")) if isinstance(c, dict) and c.get("type") == REPLICA_FAILURE),
            None,
        )
        return cls(
            path=doc.path,
            name=doc.name,
            uid=object_uid(doc.path, doc.create_time),
            created=created if isinstance(created, datetime) else doc.create_time,
            replicas=as_int(spec.get("replicas"), 1),
            annotations={k: v for k, v in as_dict(meta.get("annotations")).items() if isinstance(v, str)},
            min_ready_seconds=as_int(spec.get("minReadySeconds")),
            template=spec.get("template"),
            labels={k: v for k, v in as_dict(meta.get("labels")).items() if isinstance(v, str)},
            owner_references=[r for r in as_list(meta.get("ownerReferences")) if isinstance(r, dict)],
            status_replicas=as_int(status.get("replicas")),
            ready=as_int(status.get("readyReplicas")),
            available=as_int(status.get("availableReplicas")),
            terminating=as_int(status.get("terminatingReplicas")),
            observed=status.get("specHash") == spec_hash(doc.data.get("spec")),
            failure=failure,
            being_deleted=meta.get("deletionTimestamp") is not None,
            doc=doc,
        )

    @property
    def counted_available(self) -> int:
        """Available pods the pass may count on: at most ``spec.replicas``, as a scale-down
        this ReplicaSet's own pass has not applied yet will remove the others."""
        return max(0, min(self.available, self.replicas))

    @property
    def counted_replicas(self) -> int:
        """Pods this ReplicaSet may have: its spec, or more while its pass has not yet
        applied a scale-down (``GetActualReplicaCountForReplicaSets`` counts the status)."""
        return max(self.replicas, self.status_replicas)

    def controller_uid(self) -> str | None:
        ref = next((r for r in self.owner_references if r.get("controller") is True), None)
        if ref is None:
            return None
        uid = ref.get("uid")
        return uid if isinstance(uid, str) else repr(uid)  # another's, even if malformed

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


def by_creation(a: RS, b: RS) -> int:
    """``ReplicaSetsByCreationTimestamp``: older first, then by name."""
    if a.created != b.created:
        return -1 if a.created < b.created else 1
    return (a.name > b.name) - (a.name < b.name)


def by_size(newer_first: bool) -> Callable[[RS, RS], int]:
    """``ReplicaSetsBySizeNewer`` / ``...Older``: larger first; equal sizes by age."""

    def compare(a: RS, b: RS) -> int:
        if a.replicas != b.replicas:
            return -1 if a.replicas > b.replicas else 1
        return by_creation(b, a) if newer_first else by_creation(a, b)

    return compare


def by_revision(a: RS, b: RS) -> int:
    ra, rb = a.revision, b.revision
    if ra is None or rb is None or ra == rb:
        return by_creation(a, b)
    return -1 if ra < rb else 1


def active(sets: Sequence[RS | None]) -> list[RS]:
    return [rs for rs in sets if rs is not None and rs.replicas > 0]


def claim(d: Deployment, uid: str, sets: list[RS], being_deleted: bool) -> tuple[list[RS], list[str], list[str]]:
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


class DeploymentView:
    """One ``syncDeployment``'s in-memory copies: the Deployment's status and annotations
    as they will be written, its ReplicaSets, and the events and creates decided so far."""

    def __init__(self, doc: Doc, d: Deployment, sets: list[RS], all_sets: list[RS],
                 pods: Sequence[PodInfo], now: datetime, generation: int, digest: str) -> None:
        self.doc, self.d, self.spec, self.now = doc, d, d.spec, now
        self.name, self.namespace = doc.name, doc.namespace
        self.uid = deployment_uid(doc.path, doc.create_time)
        self.sets = sets  # this Deployment's ReplicaSets (after adoption and release)
        self.all_sets = all_sets  # every ReplicaSet of the namespace (names taken)
        self.pods = pods
        self.generation, self.digest = generation, digest
        self.old_status = as_dict(doc.data.get("status"))
        status = dict(self.old_status)
        status["conditions"] = [dict(c) for c in as_list(status.get("conditions")) if isinstance(c, dict)]
        # The Deployment's own InvalidSpec is the pass's to clear once the spec is valid.
        status["conditions"] = [c for c in status["conditions"]
                                if not (c.get("type") == REPLICA_FAILURE and c.get("reason") == INVALID_SPEC)]
        self.status = status
        self.annotations = {k: v for k, v in as_dict(as_dict(doc.data.get("metadata")).get("annotations")).items()
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

    def set_condition(self, condition: dict[str, Any]) -> None:
        self.status["conditions"] = set_condition(self.conditions, condition)

    def old_status_int(self, key: str) -> int:
        return as_int(self.old_status.get(key))

    @property
    def collision_count(self) -> int | None:
        value = self.status.get("collisionCount")
        return value if isinstance(value, int) else None

    def event(self, reason: str, message: str, type_: str = "Normal") -> RecordEvent:
        return event_for(self.namespace, self.name, self.uid, reason, message, type_)

    # -- getAllReplicaSetsAndSyncRevision
    def find_new(self) -> RS | None:
        """``FindNewReplicaSet``: the oldest with the Deployment's template."""
        for rs in sorted(self.sets, key=cmp_to_key(by_creation)):
            if not rs.delete and equal_ignore_hash(rs.template, self.doc.data["spec"]["template"]):
                return rs
        return None

    def old_sets(self, new: RS | None) -> list[RS]:
        return [rs for rs in self.sets if rs is not new and not rs.delete]

    def new_revision(self, old: list[RS]) -> str:
        return str(max([r for r in (rs.revision for rs in old) if r is not None], default=0) + 1)

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

    def new_rs_new_replicas(self, all_sets: list[RS], new: RS) -> int:
        """``NewRSNewReplicas``. Other ReplicaSets count what they may still have (their
        status while a scale-down is pending), so that a new ReplicaSet's pass that runs
        before an old one's never makes more than ``replicas + maxSurge`` pods."""
        if self.spec.strategy.type == RECREATE:
            return self.spec.replicas
        max_total = self.spec.replicas + self.spec.max_surge()
        current = sum(rs.replicas if rs is new else rs.counted_replicas for rs in all_sets)
        if current >= max_total:
            return new.replicas
        return new.replicas + min(max_total - current, self.spec.replicas - new.replicas)

    def is_saturated(self, rs: RS | None) -> bool:
        if rs is None:
            return False
        desired = rs.annotations.get(DESIRED_REPLICAS, "")
        return (desired.lstrip("-").isdigit() and int(desired) == self.spec.replicas
                and rs.replicas == self.spec.replicas and rs.counted_available == self.spec.replicas)
