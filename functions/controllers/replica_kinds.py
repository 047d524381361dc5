"""What a replica-keeping controller is, and the writes a pass on one is made of: shared
by the sync pass (``replication``) and delete propagation (``propagation``), so that
both import from here and neither from the other's inside.

``ControllerKind`` is one kind of controller (v1 ReplicationController, apps/v1
ReplicaSet: the same pass, its own documents); ``owner_ref`` and ``controller_uid`` how
its pods name it; ``Plan`` what one pass decided; ``controller_writes`` the controller's
own write, guarded by its ``update_time``; ``remove_pod`` how a pod goes; ``event_for``
and ``pods_message`` what the pass says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from functions import fingerprint
from functions.api.controller import ReplicationControllerStatus
from functions.api.parse import (
    Parsed,
    parse_controller,
    parse_controller_status,
    parse_replicaset,
    parse_replicaset_status,
)
from functions.objects import event_for as object_event
from functions.objects import object_uid
from functions.pod_policy import PodInfo
from functions.store import (
    CONTROLLERS,
    REPLICA_SETS,
    Delete,
    Doc,
    RecordEvent,
    Update,
    Write,
    doc_path,
)

MAX_ATTEMPTS = 12
POD_WRITES_PER_PASS = 450  # creates, deletes, adoptions and releases; the rest is the controller and events

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ControllerKind:
    """One kind of replica-keeping controller: the same pass, its own documents.

    ``parse(doc, namespace, name, max_replicas)`` gives an object with ``.name`` and a
    ``.spec`` with ``replicas``, ``selector`` (a map or a ``LabelSelector``),
    ``template`` and ``min_ready_seconds``. ``counts_terminating``: the status has
    ``terminatingReplicas`` (apps/v1; the v1 ReplicationControllerStatus has not).
    """

    kind: str
    api_version: str
    collection: str
    parse: Callable[[Any, str, str, int], Parsed[Any]]
    parse_status: Callable[[Any], ReplicationControllerStatus]
    counts_terminating: bool = False

    def path(self, namespace: str, name: str) -> str:
        return doc_path(namespace, self.collection, name)


REPLICATION_CONTROLLER = ControllerKind(
    "ReplicationController", "v1", CONTROLLERS, parse_controller, parse_controller_status
)
REPLICA_SET = ControllerKind(
    "ReplicaSet", "apps/v1", REPLICA_SETS, parse_replicaset, parse_replicaset_status, counts_terminating=True
)
KINDS = (REPLICATION_CONTROLLER, REPLICA_SET)
KIND = REPLICATION_CONTROLLER.kind  # the v1 kind's name, as before


def kind_of_path(path: str) -> ControllerKind | None:
    """The controller kind a document path is of (``namespaces/{ns}/{collection}/{name}``)."""
    parts = path.split("/")
    collection = parts[2] if len(parts) == 4 else None
    return next((k for k in KINDS if k.collection == collection), None)


def controller_uid(path: str, create_time: datetime) -> str:
    return object_uid(path, create_time)


def owner_ref(name: str, uid: str, kind: ControllerKind = REPLICATION_CONTROLLER) -> dict[str, Any]:
    """The exact owner reference map the controller writes (and queries by)."""
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def event_for(
    namespace: str, name: str, uid: str, reason: str, message: str, type_: str = "Normal",
    kind: ControllerKind = REPLICATION_CONTROLLER,
) -> RecordEvent:
    return object_event(kind.kind, namespace, name, uid, reason, message, type_)


@dataclass(frozen=True)
class Plan:
    """What one pass decided, as writes to commit together, and what they mean."""

    writes: list[Write] = field(default_factory=list)
    creating: list[str] = field(default_factory=list)
    deleting: list[str] = field(default_factory=list)
    adopting: list[str] = field(default_factory=list)
    releasing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    want: int = 0
    active: int = 0
    more: bool = False  # the burst cap was reached: another pass is needed
    deleted_self: bool = False  # marked for deletion, its dependents dealt with: its document goes


def metadata_of(rc: Doc) -> dict[str, Any] | None:
    meta = rc.data.get("metadata", {})
    return meta if isinstance(meta, dict) else None


def controller_writes(
    rc: Doc,
    uid: str,
    status: ReplicationControllerStatus,
    generation: int,
    pod_writes: bool,
) -> list[Write]:
    """The guarded write of the controller: status, uid, generation, resourceVersion.

    Any commit that writes pods also changes ``metadata.resourceVersion``: an identical
    rewrite does not move ``update_time``, and the precondition must see our commit.
    """
    fields: dict[str, Any] = {}
    status_doc = status.to_doc()
    if status_doc != rc.data.get("status"):
        fields["status"] = status_doc
    meta = metadata_of(rc)
    if meta is not None:
        for key, value in (("uid", uid), ("generation", generation)):
            if meta.get(key) != value:
                fields[f"metadata.{key}"] = value
        if fields or pod_writes:
            version = meta.get("resourceVersion")
            number = int(version) if isinstance(version, str) and version.isdigit() else 0
            fields["metadata.resourceVersion"] = str(number + 1)
    elif pod_writes:  # pragma: no cover - an invalid controller never writes pods
        raise AssertionError("pods written for a controller without metadata")
    if not fields:
        return []
    return [Update(rc.path, fields, if_updated_at=rc.update_time)]


def remove_pod(pod: PodInfo, now: datetime, owner_references: list[dict[str, Any]] | None = None) -> Write:
    """Delete a pod at once if nothing holds it, else mark it for its finalizers' owner."""
    if not pod.finalizers and owner_references is None:
        return Delete(pod.path, if_updated_at=pod.update_time)
    fields: dict[str, Any] = {"metadata.deletionTimestamp": now, fingerprint.FIELD: fingerprint.LEAVING}
    if owner_references is not None:
        fields["metadata.ownerReferences"] = owner_references
    return Update(pod.path, fields, if_updated_at=pod.update_time)


def pods_message(verb: str, names: list[str]) -> str:
    return f"{verb} pod: {names[0]}" if len(names) == 1 else f"{verb} {len(names)} pods: {', '.join(names)}"
