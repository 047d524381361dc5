"""Node lifecycle: a pod whose agent went silent is Ready Unknown, then Failed (NodeLost).

Kubernetes' node lifecycle controller marks a node's pods not ready when the node's
lease is not renewed for the grace period, and evicts them after the eviction timeout.
Here each pod is its own node and its lease is the heartbeat document its agent's
reports renew (``functions/heartbeats.py``). Each resync tick asks Firestore once for
the heartbeats older than ``heartbeat_timeout`` (only stale ones come back, so a
healthy cluster costs one read), and for each:

- silent longer than ``heartbeat_timeout``: ``Ready`` and ``ContainersReady`` Unknown
  (reason ``NodeStatusUnknown``), written once; the agent's next report puts them back;
- longer than that plus ``eviction_timeout``: phase Failed, reason ``NodeLost``; the pod
  runtime then releases the VM, and the controller replaces the pod;
- the heartbeat of a pod that is gone, finished, or another pod of the same name: deleted.

``node_verdict`` is the pure decision; ``check_heartbeat`` reads the pod and writes,
guarded by the pod's and the heartbeat's ``update_time`` (a report that arrives in
between wins, and the next tick looks again). When most agents are silent at once
(``disrupted``), pods are marked Unknown but none is evicted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from google.cloud.firestore_v1.base_query import FieldFilter

from functions.api.meta import Condition, replace_condition
from functions.api.pod import PodStatus
from functions.config import Settings
from functions.controllers.termination import runs_agent
from functions.heartbeats import APPLIED, HEARTBEATS, RENEW_TIME
from functions.logs import ref_fields
from functions.objects import doc_uid, event_for
from functions.pod_policy import as_dict
from functions.store import PODS, Delete, Doc, StaleWrite, Store, Update, Write, doc_path

log = logging.getLogger("firecontrol.nodes")

Verdict = Literal["fresh", "unknown", "lost", "forget", "nothing"]
UNKNOWN, LOST = "NodeStatusUnknown", "NodeLost"


def stale_heartbeats(store: Store, cutoff: datetime) -> list[Doc]:
    """Heartbeats last renewed before ``cutoff``, in every namespace: one query, billed
    one read per document it returns (one when none does)."""
    query = store.client.collection_group(HEARTBEATS).where(filter=FieldFilter(RENEW_TIME, "<", cutoff))
    docs = [
        Doc(snapshot.reference.path, snapshot.to_dict() or {}, snapshot.update_time, snapshot.create_time)
        for snapshot in query.stream()
    ]
    store.ops.add(reads=max(1, len(docs)))
    return docs


def silent_for(heartbeat: Doc, now: datetime) -> timedelta | None:
    renew = heartbeat.data.get(RENEW_TIME)
    return now - renew if isinstance(renew, datetime) else None


def node_verdict(pod: Doc | None, heartbeat: Doc, now: datetime, settings: Settings,
                 evict: bool = True) -> Verdict:
    """What a stale heartbeat means for its pod. ``evict`` False (most agents silent at
    once: ``disrupted``): Unknown at most, never lost."""
    if pod is None:
        return "forget"
    owner = heartbeat.data.get("podUid")
    if isinstance(owner, str) and owner and owner != doc_uid(pod):
        return "forget"  # an earlier pod of the same name: its VM is gone with it
    meta, status = as_dict(pod.data.get("metadata")), as_dict(pod.data.get("status"))
    if status.get("phase") in ("Succeeded", "Failed") or not runs_agent(pod.data):
        return "forget"
    if meta.get("deletionTimestamp") is not None:
        return "nothing"  # its grace period ends it, whatever the agent says
    silent = silent_for(heartbeat, now)
    if silent is None:
        return "forget"  # garbled: the pod runtime writes it anew with the next VM
    timeout = timedelta(seconds=settings.heartbeat_timeout)
    if evict and silent >= timeout + timedelta(seconds=settings.eviction_timeout):
        return "lost"
    if silent >= timeout:
        ready = next((c for c in map(as_dict, status.get("conditions") or []) if c.get("type") == "Ready"), {})
        return "nothing" if (ready.get("status"), ready.get("reason")) == ("Unknown", UNKNOWN) else "unknown"
    return "fresh"


# As Kubernetes' node lifecycle controller stops evicting in a zone where more than
# unhealthyZoneThreshold (55 %) of the nodes are not ready: then the fault is more likely
# the path the reports take (pod_status down, IAM, the network) than the VMs, and
# evicting everything would make it worse.
DISRUPTION_THRESHOLD = 0.55
DISRUPTION_MINIMUM = 3  # fewer silent agents than this are always treated one by one


def disrupted(stale: int, total: int) -> bool:
    """Most agents silent at once: mark their pods Unknown, evict none."""
    return stale >= DISRUPTION_MINIMUM and total > 0 and stale / total > DISRUPTION_THRESHOLD


def count_heartbeats(store: Store) -> int:
    """Every heartbeat (an aggregation: one read per thousand), asked only when some are stale."""
    query: Any = store.client.collection_group(HEARTBEATS).count()  # the library's typing of it is wrong
    results = query.get()
    store.ops.add(reads=1)
    return int(results[0][0].value)


def _since(heartbeat: Doc) -> str:
    renew = heartbeat.data.get(RENEW_TIME)
    return renew.isoformat(timespec="seconds") if isinstance(renew, datetime) else "never"


def _conditions(pod: Doc) -> list[Condition]:
    try:
        return PodStatus.model_validate(as_dict(pod.data.get("status"))).conditions
    except ValueError:  # garbled by some client: the pod runtime reports that; ours still go on
        return []


def unknown_writes(pod: Doc, heartbeat: Doc, settings: Settings, now: datetime) -> list[Write]:
    """``Ready`` and ``ContainersReady`` Unknown; the message stays the same while the
    agent is silent, so the condition is written once."""
    message = (f"the pod's agent has not reported for over {settings.heartbeat_timeout:g}s "
               f"(last heard {_since(heartbeat)})")
    conditions = _conditions(pod)
    for kind in ("ContainersReady", "Ready"):
        conditions = replace_condition(conditions, kind, Condition(type=kind, status="Unknown", reason=UNKNOWN,
                                                               message=message), now)
    update = Update(pod.path, {"status.conditions": [c.to_doc() for c in conditions]}, pod.update_time)
    return [update, _unapplied(heartbeat),
            event_for("Pod", pod.namespace, pod.name, doc_uid(pod), "NodeNotReady", message, "Warning")]


def _unapplied(heartbeat: Doc) -> Write:
    """Guarded by the heartbeat: an agent whose report renewed it since resync read it is
    back, and its pod must not be marked (the commit fails and the next tick looks again).
    Clearing ``applied`` makes the agent's next report write the pod's readiness back."""
    return Update(heartbeat.path, {APPLIED: None}, heartbeat.update_time)


def lost_writes(pod: Doc, heartbeat: Doc, settings: Settings, now: datetime) -> list[Write]:
    """Failed, reason NodeLost: as Kubernetes evicts the pods of a node gone too long."""
    silent = settings.heartbeat_timeout + settings.eviction_timeout
    message = f"the pod's agent has not reported for over {silent:g}s (last heard {_since(heartbeat)}); its VM is lost"
    conditions = _conditions(pod)
    for kind in ("ContainersReady", "Ready"):
        conditions = replace_condition(conditions, kind, Condition(type=kind, status="False", reason=LOST,
                                                               message=message), now)
    fields: dict[str, Any] = {
        "status.phase": "Failed", "status.reason": LOST, "status.message": message,
        "status.conditions": [c.to_doc() for c in conditions], "status.vmFingerprint": None,
    }
    return [Update(pod.path, fields, pod.update_time), _unapplied(heartbeat),
            event_for("Pod", pod.namespace, pod.name, doc_uid(pod), LOST, message, "Warning")]


@dataclass(frozen=True)
class Checked:
    verdict: Verdict
    written: bool


def check_heartbeat(store: Store, heartbeat: Doc, settings: Settings, now: datetime, evict: bool = True) -> Checked:
    """Read the heartbeat's pod, decide, write (guarded). ``written`` False: nothing to
    do, or the pod or heartbeat changed since read (the next tick decides again)."""
    namespace, name = heartbeat.namespace, heartbeat.name
    pod = store.get(doc_path(namespace, PODS, name))
    verdict = node_verdict(pod, heartbeat, now, settings, evict)
    writes: list[Write] = []
    if verdict == "forget":
        writes = [Delete(heartbeat.path, if_updated_at=heartbeat.update_time)]
    elif pod is not None and verdict == "unknown":
        writes = unknown_writes(pod, heartbeat, settings, now)
    elif pod is not None and verdict == "lost":
        writes = lost_writes(pod, heartbeat, settings, now)
    if not writes:
        return Checked(verdict, False)
    try:
        store.commit(writes, now)
    except StaleWrite:
        return Checked(verdict, False)
    if verdict in ("unknown", "lost"):
        log.warning("pod's agent silent", extra=ref_fields("Pod", namespace, name, verdict=verdict,
                                                           lastHeard=_since(heartbeat)))
    return Checked(verdict, True)
