"""What a controller needs to know of a pod, and its policies: active, ready, deletion order.

``PodInfo`` is read leniently from any stored pod: a malformed pod is the pod
runtime's to report, and must never make a controller's pass fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from functions.api.names import zone_or_none
from functions.store import Doc

_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}
# The pod runtime's finalizer: on the document before the pod's VM exists, off once it is
# gone. A controller writes it into every pod it makes, saving the pod runtime a pass.
VM_FINALIZER = "firecontrol.io/instance"


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


@dataclass(frozen=True)
class PodInfo:
    path: str
    name: str
    update_time: datetime
    labels: dict[str, str] = field(default_factory=dict)
    owner_references: list[dict[str, Any]] = field(default_factory=list)
    finalizers: list[str] = field(default_factory=list)
    being_deleted: bool = False
    phase: str = "Pending"
    ready: bool = False
    ready_since: datetime | None = None
    restarts: int = 0
    created: datetime | None = None
    node_name: str | None = None
    vm_zone: str | None = None  # where its VM was made; None: the configured zone
    # Why the pod's VM could not be made (PodScheduled False), if it could not, and the
    # condition's reason (InvalidSpec: the pod runtime refused the pod itself).
    unschedulable: str | None = None
    unschedulable_reason: str | None = None

    @classmethod
    def from_doc(cls, doc: Doc) -> PodInfo:
        meta = as_dict(doc.data.get("metadata"))
        spec = as_dict(doc.data.get("spec"))
        status = as_dict(doc.data.get("status"))
        conditions = [c for c in map(as_dict, as_list(status.get("conditions")))]
        ready = next((c for c in conditions if c.get("type") == "Ready"), {})
        scheduled = next((c for c in conditions if c.get("type") == "PodScheduled"), {})
        restarts = [
            s.get("restartCount") for s in map(as_dict, as_list(status.get("containerStatuses")))
        ]
        phase = status.get("phase")
        return cls(
            path=doc.path,
            name=doc.name,
            update_time=doc.update_time,
            labels=labels_of(doc.data),
            owner_references=[r for r in as_list(meta.get("ownerReferences")) if isinstance(r, dict)],
            finalizers=[f for f in as_list(meta.get("finalizers")) if isinstance(f, str)],
            being_deleted=meta.get("deletionTimestamp") is not None,
            phase=phase if isinstance(phase, str) else "Pending",
            ready=ready.get("status") == "True",
            ready_since=_time(ready.get("lastTransitionTime")),
            restarts=max((r for r in restarts if isinstance(r, int)), default=0),
            created=_time(meta.get("creationTimestamp")) or doc.create_time,
            node_name=spec.get("nodeName") if isinstance(spec.get("nodeName"), str) else None,
            vm_zone=zone_or_none(status.get("vmZone")),
            unschedulable=str(scheduled.get("message") or "VM not created") if scheduled.get("status") == "False" else None,
            unschedulable_reason=str(scheduled.get("reason")) if scheduled.get("status") == "False" else None,
        )

    def controller_ref(self) -> dict[str, Any] | None:
        return next((ref for ref in self.owner_references if ref.get("controller") is True), None)


def controller_reference(data: Any) -> dict[str, Any] | None:
    """A stored document's controlling owner reference (``controller: true``), read leniently."""
    refs = as_list(as_dict(as_dict(data).get("metadata")).get("ownerReferences"))
    return next((ref for ref in map(as_dict, refs) if ref.get("controller") is True), None)


def labels_of(data: dict[str, Any]) -> dict[str, str]:
    """A document's string labels (anything else a client wrote there is ignored)."""
    return {k: v for k, v in as_dict(as_dict(data.get("metadata")).get("labels")).items() if isinstance(v, str)}


def refused_as_invalid(pod: PodInfo) -> bool:
    """The pod runtime refused the pod itself (InvalidSpec): no VM was made, none will be."""
    return pod.phase == "Failed" and pod.unschedulable_reason == "InvalidSpec"


def is_active(pod: PodInfo) -> bool:
    return pod.phase not in ("Succeeded", "Failed") and not pod.being_deleted


def filter_active_pods(pods: Iterable[PodInfo]) -> list[PodInfo]:
    """Pods that are, or may soon be, doing the work: not finished and not being deleted.

    The 2014 ReplicationManager counted only Running pods. A pod is Pending for the
    whole time its VM boots, so every pass in that window saw too few replicas and
    created more: the controller overshot, and then killed the surplus (Kubernetes
    #2529). Pending and Unknown pods count; Succeeded and Failed ones do not, and
    neither do pods already marked for deletion, which are on their way out.
    """
    return [pod for pod in pods if is_active(pod)]


def deletion_key(pod: PodInfo) -> tuple[Any, ...]:
    """Sort key putting the pod to delete first, as Kubernetes' ``ActivePods.Less``.

    1. Unassigned (no VM yet) before assigned.
    2. Pending before Unknown before Running.
    3. Not ready before ready.
    4. Ready for a shorter time before a longer time.
    5. More container restarts before fewer.
    6. Newer before older (the oldest pods have proven themselves; Kubernetes #3948).
    """
    assigned = pod.node_name is not None
    ready_for = 0.0
    if pod.ready:
        ready_for = -pod.ready_since.timestamp() if pod.ready_since else float("-inf")
    age = -pod.created.timestamp() if pod.created else float("-inf")
    return (
        assigned,
        _PHASE_RANK.get(pod.phase, 0),
        pod.ready,
        ready_for,
        -pod.restarts,
        age,
        pod.name,
    )


def rank_for_deletion(pods: Sequence[PodInfo]) -> list[PodInfo]:
    return sorted(pods, key=deletion_key)
