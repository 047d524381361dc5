"""The replication manager: one sync pass keeps a controller's pods at its replica count.

``plan_sync`` is the decision, a pure function of the controller document, its pods
and the time. ``sync_controller`` is the thin I/O around it: read, plan, commit once,
guarded by a precondition on the controller's ``update_time`` (optimistic concurrency,
like Kubernetes' resourceVersion). Of two concurrent passes one commits; the other's
precondition fails, it re-reads and finds nothing left to do, so there is no overshoot.

``metadata.generation``: kube_api bumps it when a write changes the spec, as the
apiserver does; a Firestore client may not. The pass keeps the hash of the spec it last
saw in ``status.specHash``; when it moved, the generation is kube_api's if it bumped
(``generation > observedGeneration``), else ``observedGeneration + 1``, and
``status.observedGeneration`` is set to it in the same commit: one change, one generation.

A controller marked for deletion (``deletionTimestamp``, docs/kube-api.md §8) creates
nothing: its pass is ``propagation.plan_deletion`` (``foregroundDeletion``, ``orphan``),
and a deleted controller's pods go by ``propagation.cascade_delete``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from google.api_core import exceptions as gexc

from functions import quota
from functions.api.admission import pod_problems
from functions.api.controller import (
    ReplicationControllerStatus,
    SlowStart,
    next_generation,
    spec_hash,
)
from functions.api.meta import Condition, set_condition
from functions.api.names import generate_pod_name
from functions.api.parse import parse_pod
from functions.api.replicaset import ReplicaSetStatus
from functions.api.selector import LabelSelector
from functions.config import Settings
from functions.controllers.propagation import plan_deletion
from functions.controllers.replica_kinds import (
    MAX_ATTEMPTS,
    POD_WRITES_PER_PASS,
    REPLICATION_CONTROLLER,
    Clock,
    ControllerKind,
    Plan,
    controller_uid,
    controller_writes,
    event_for,
    metadata_of,
    owner_ref,
    pods_message,
    remove_pod,
)
from functions.logs import ref_fields
from functions.objects import Contention
from functions.pod_policy import (
    VM_FINALIZER,
    PodInfo,
    filter_active_pods,
    rank_for_deletion,
    refused_as_invalid,
)
from functions.store import (
    COMMIT_BUDGET_BYTES,
    MAX_DOCUMENT_BYTES,
    PODS,
    Create,
    Doc,
    RecordEvent,
    StaleWrite,
    Store,
    Update,
    Write,
    doc_path,
    document_size,
)

log = logging.getLogger("firecontrol.replication")

FAILURE = "ReplicaFailure"


class Workload(Protocol):
    """What the pass reads of a controller of either kind, parsed."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> Any: ...  # .replicas, .selector, .template, .min_ready_seconds


def _condition_set(conditions: list[Condition], new: Condition | None, now: datetime) -> list[Condition]:
    return set_condition(conditions, FAILURE, new, now)


def failure(reason: str, message: str) -> Condition:
    return Condition(type=FAILURE, status="True", reason=reason, message=message)


def _generation(rc: Doc, old: ReplicationControllerStatus) -> tuple[int, str]:
    raw_spec = rc.data.get("spec", rc.data.get("desiredState"))
    digest = spec_hash(raw_spec)
    meta = metadata_of(rc) or {}
    raw = meta.get("generation")
    current = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    return next_generation(current, old.observed_generation, digest != old.spec_hash), digest



def new_pod(rc: Workload, namespace: str, ref: dict[str, Any], now: datetime) -> Create:
    name = generate_pod_name(rc.name)
    template = rc.spec.template
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": dict(template.metadata.labels),
        "uid": str(uuid.uuid4()),
        "generation": 1,
        "creationTimestamp": now,
        "ownerReferences": [ref],
        "finalizers": [VM_FINALIZER],
    }
    if template.metadata.annotations:
        metadata["annotations"] = dict(template.metadata.annotations)
    doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": template.spec.model_dump(by_alias=True, exclude_none=True),
        "status": {"phase": "Pending"},
    }
    return Create(doc_path(namespace, PODS, name), doc)


def template_problems(pod: Create, namespace: str, settings: Settings) -> list[str]:
    """What the pod runtime would refuse in ``pod``, a pod the template makes: the same
    parse and the same admission check, with paths under ``spec.template``. A template
    that passes makes pods that pass, so the controller never creates pods to see them fail."""
    name = pod.path.rsplit("/", 1)[1]
    parsed = parse_pod(pod.data, namespace, name)
    problems = parsed.errors if parsed.obj is None else pod_problems(parsed.obj, namespace, name, settings)
    return [f"spec.template.{problem}" for problem in problems]


def refused_message(refused: Sequence[PodInfo]) -> str:
    """The backstop's word: this template's pods are refused, none more are made. (No pod
    name in it: the message stays the same while old refused pods are cleaned up.)"""
    reasons = sorted({p.unschedulable or "refused" for p in refused})
    return (
        "pods made from this template are refused by the pod runtime; no more are created until "
        f"spec.template changes or they are deleted: {reasons[0]}"
    )[:1000]



def _invalid(
    rc: Doc,
    uid: str,
    old: ReplicationControllerStatus,
    generation: int,
    digest: str,
    owned: list[PodInfo],
    errors: list[str],
    now: datetime,
    kind: ControllerKind = REPLICATION_CONTROLLER,
) -> Plan:
    """A controller we cannot act on: report why, count what it owns, touch no pod."""
    message = "; ".join(errors)
    active = filter_active_pods(owned)
    update: dict[str, Any] = {
        "replicas": len(active),
        "ready_replicas": sum(p.ready for p in active),
        "finished_pods": len(finished_pods(owned)),
        "observed_generation": generation,
        "spec_hash": digest,
        "conditions": _condition_set(old.conditions, failure("InvalidSpec", message), now),
    }
    if kind.counts_terminating:
        update["terminating_replicas"] = sum(p.being_deleted for p in owned)
    status = old.model_copy(update=update)
    writes = controller_writes(rc, uid, status, generation, pod_writes=False)
    old_failure = next((c for c in old.conditions if c.type == FAILURE), None)
    if writes and (old_failure is None or (old_failure.reason, old_failure.message) != ("InvalidSpec", message)):
        writes.append(event_for(rc.namespace, rc.name, uid, "InvalidSpec", message, "Warning", kind))
    return Plan(writes=writes, errors=errors)


def plan_sync(
    rc: Doc, pods: Sequence[PodInfo], settings: Settings, now: datetime,
    admission: quota.ControllerAdmission | None = None,
    kind: ControllerKind = REPLICATION_CONTROLLER,
) -> Plan:
    """Decide one pass: which pods to create, delete, adopt and release, and the status.

    ``admission`` holds the namespace's quotas and usage, read by the caller when the
    controller is short of pods; no pod over quota is created.
    """
    namespace, name = rc.namespace, rc.name
    uid = controller_uid(rc.path, rc.create_time)
    ref = owner_ref(name, uid, kind)
    parsed = kind.parse(rc.data, namespace, name, settings.max_replicas)
    old = kind.parse_status(rc.data)
    generation, digest = _generation(rc, old)
    owned = [p for p in pods if (p.controller_ref() or {}).get("uid") == uid]
    if being_deleted(rc.data):  # before the spec is even read: a marked controller makes nothing
        return plan_deletion(rc, uid, old, generation, digest, owned, now, kind)

    def invalid(errors: list[str]) -> Plan:
        return _invalid(rc, uid, old, generation, digest, owned, errors, now, kind)

    if parsed.obj is None or parsed.errors:
        return invalid(parsed.errors)

    obj: Workload = parsed.obj
    spec = obj.spec
    selector = LabelSelector.of(spec.selector)
    sample = new_pod(obj, namespace, ref, now)  # the first pod to create, if any is
    problems = template_problems(sample, namespace, settings)
    if problems:
        return invalid(problems)
    template_digest = spec_hash(spec.template.to_doc())
    since = old.template_since if old.template_hash == template_digest and old.template_since else now
    refused = [p for p in owned if refused_as_invalid(p) and p.created is not None and p.created >= since]
    adopt: list[PodInfo] = []
    release: list[PodInfo] = []
    mine: list[PodInfo] = []
    for pod in pods:
        controller = pod.controller_ref()
        matches = selector.matches(pod.labels)
        if controller is not None:
            if controller.get("uid") != uid:
                continue  # another controller's pod: never touched
            if matches:
                mine.append(pod)
            elif not pod.being_deleted:
                release.append(pod)
        elif matches and not pod.being_deleted:
            adopt.append(pod)

    active = filter_active_pods(mine + adopt)
    diff = len(active) - spec.replicas
    awaiting = [p for p in active if p.node_name is None]
    failing = [p for p in awaiting if p.unschedulable]
    slow_start: SlowStart | None = None
    capped = False
    creates: list[Create] = []
    removing: list[PodInfo] = []
    blocked: Condition | None = None
    request = quota.pod_request(quota.machine_type_of(spec.template.metadata.annotations, settings))
    if diff < 0:
        first = sample
        size = document_size(first.path, first.data)
        if size > MAX_DOCUMENT_BYTES:
            message = (
                f"spec.template: a pod made from it would take {size} bytes, over Firestore's "
                f"{MAX_DOCUMENT_BYTES}-byte document limit"
            )
            return invalid([message])
        cap = min(settings.burst, max(1, COMMIT_BUDGET_BYTES // size))
        batch = min(-diff, cap)
        if settings.slow_start:
            slow_start = next_window(old.slow_start, active, awaiting, bool(failing), settings.burst)
            batch = min(batch, max(0, slow_start.window - len(awaiting)))
        if refused:  # the backstop: the pod runtime refuses this template's pods
            blocked, batch = failure("FailedCreate", refused_message(refused)), 0
        elif admission is not None:
            fits, refusal = admission.allowed(request, -diff, f"{name}-")
            batch = min(batch, fits)
            blocked = failure("FailedCreate", refusal) if refusal else None
        # Another pass in this invocation only when the burst or one commit's size held
        # creates back; not when slow start or a quota did (their limit holds until pods change).
        capped = batch == cap < -diff
        if batch:
            creates = [first] + [new_pod(obj, namespace, ref, now) for _ in range(batch - 1)]
        if slow_start is not None:
            slow_start.awaiting = sorted([p.name for p in awaiting] + [c.path.rsplit("/", 1)[1] for c in creates])
    elif diff > 0:
        removing = rank_for_deletion(active)[: min(diff, settings.burst)]
    if settings.slow_start and diff <= 0 and len(failing) > 1:
        # Compute refused their VMs (quota, stockout): one pod goes on asking, with its
        # back-off; the others go, as Kubernetes' slowStartBatch stops at the first
        # refused create, so a quota costs one refused insert per attempt, not one per pod.
        oldest_first = sorted(failing, key=lambda p: p.created.timestamp() if p.created else 0.0)
        removing += [p for p in oldest_first[1:] if p not in removing]
    removing += old_failed_pods(mine)
    # One commit holds the pod writes; what does not fit waits a pass (``more``). An
    # orphan removed is adopted in the same write, so only the others need room.
    kept = removing[: max(0, POD_WRITES_PER_PASS - len(creates))]
    deferred = len(removing) - len(kept)
    removing = kept
    removing_paths = {p.path for p in removing}
    room = max(0, POD_WRITES_PER_PASS - len(creates) - len(removing))
    adopt_only = [p for p in adopt if p.path not in removing_paths]
    deferred += max(0, len(adopt_only) + len(release) - room)
    adopt = [p for p in adopt if p.path in removing_paths] + adopt_only[:room]
    release = release[: max(0, room - len(adopt_only))]

    pod_writes: list[Write] = [*creates]
    if creates and admission is not None:
        pod_writes += admission.writes(request, len(creates))
    for pod in adopt:
        refs = [*pod.owner_references, ref]
        if pod.path in removing_paths:
            pod_writes.append(remove_pod(pod, now, owner_references=refs))
        else:
            pod_writes.append(Update(pod.path, {"metadata.ownerReferences": refs}, pod.update_time))
    adopted = {p.path for p in adopt}
    pod_writes += [remove_pod(p, now) for p in removing if p.path not in adopted]
    for pod in release:
        refs = [r for r in pod.owner_references if r.get("uid") != uid]
        pod_writes.append(Update(pod.path, {"metadata.ownerReferences": refs}, pod.update_time))

    remaining = [p for p in active if p.path not in removing_paths]
    if settings.slow_start and diff < 0 and not creates and awaiting:
        log.info("slow start: waiting for VMs", extra=ref_fields(kind.kind, namespace, name, awaiting=len(awaiting), failing=len(failing)))
    template_labels = spec.template.metadata.labels
    min_ready = timedelta(seconds=spec.min_ready_seconds)
    update: dict[str, Any] = {}
    if kind.counts_terminating:
        # Pods marked for deletion whose documents are still there, this pass's included
        # (a pod with a finalizer, or adopted as it goes, is marked, not deleted).
        marked = {p.path for p in removing if p.finalizers or p.path in adopted}
        update["terminating_replicas"] = len({p.path for p in owned if p.being_deleted} | marked)
    status = old.model_copy(
        update={
            **update,
            "replicas": len(remaining) + len(creates),
            "fully_labeled_replicas": len(creates)
            + sum(all(p.labels.get(k) == v for k, v in template_labels.items()) for p in remaining),
            "ready_replicas": sum(p.ready for p in remaining),
            "available_replicas": sum(
                p.ready and (not min_ready or (p.ready_since is not None and p.ready_since + min_ready <= now))
                for p in remaining
            ),
            "observed_generation": generation,
            "spec_hash": digest,
            "finished_pods": len([p for p in finished_pods(mine + adopt) if p.path not in removing_paths]),
            "conditions": _condition_set(old.conditions, blocked or vm_failure(failing), now),
            "slow_start": slow_start,
            "template_hash": template_digest,
            "template_since": since,
        }
    )
    events: list[Write] = []
    creating = [c.path.rsplit("/", 1)[1] for c in creates]
    deleting = [p.name for p in removing]
    if creating:
        events.append(event_for(namespace, name, uid, "SuccessfulCreate", pods_message("Created", creating), kind=kind))
    if deleting:
        events.append(event_for(namespace, name, uid, "SuccessfulDelete", pods_message("Deleted", deleting), kind=kind))
    old_failure = next((c for c in old.conditions if c.type == FAILURE), None)
    if blocked is not None and (old_failure is None or (old_failure.reason, old_failure.message) != (blocked.reason, blocked.message)):
        events.append(event_for(namespace, name, uid, "FailedCreate", blocked.message or "", "Warning", kind))
        log.warning("not creating pods", extra=ref_fields(kind.kind, namespace, name, reason=blocked.message))
    if parsed.unknown and digest != old.spec_hash:
        message = "fields not supported, kept but ignored: " + ", ".join(parsed.unknown)
        events.append(event_for(namespace, name, uid, "UnsupportedFields", message, "Warning", kind))
    rc_writes = controller_writes(rc, uid, status, generation, pod_writes=bool(pod_writes))
    writes = [*rc_writes, *pod_writes, *events] if rc_writes else []
    return Plan(
        writes=writes,
        creating=creating,
        deleting=deleting,
        adopting=[p.name for p in adopt],
        releasing=[p.name for p in release],
        want=spec.replicas,
        active=len(active),
        more=(bool(creates) and capped and blocked is None) or (bool(removing) and diff > len(removing)) or deferred > 0,
    )


def being_deleted(data: Any) -> bool:
    meta = data.get("metadata") if isinstance(data, dict) else None
    return isinstance(meta, dict) and meta.get("deletionTimestamp") is not None


FAILED_HISTORY = 3  # Failed pods a controller keeps for inspection; older ones are deleted


def finished_pods(pods: Sequence[PodInfo]) -> list[PodInfo]:
    return [p for p in pods if p.phase in ("Failed", "Succeeded") and not p.being_deleted]


def old_failed_pods(pods: Sequence[PodInfo]) -> list[PodInfo]:
    """Failed pods beyond the newest few: their VMs are gone, their documents go too."""
    failed = [p for p in pods if p.phase == "Failed" and not p.being_deleted]
    failed.sort(key=lambda p: p.created.timestamp() if p.created else 0.0, reverse=True)
    return failed[FAILED_HISTORY:]


def next_window(
    previous: SlowStart | None, active: Sequence[PodInfo], awaiting: Sequence[PodInfo], failing: bool, cap: int
) -> SlowStart:
    """Grow the window by every pod that got its VM since the last pass (doubling per
    round, as slowStartBatch does); back to one as soon as a VM cannot be made."""
    if failing or previous is None:
        return SlowStart(window=1)
    placed = {p.name for p in active if p.node_name is not None}
    succeeded = sum(name in placed for name in previous.awaiting)
    return SlowStart(window=min(cap, max(1, previous.window + succeeded)))


def vm_failure(failing: Sequence[PodInfo]) -> Condition | None:
    if not failing:
        return None
    first = failing[0]
    message = f"{len(failing)} pod(s) cannot get a VM; {first.name}: {first.unschedulable}"
    return failure("FailedCreate", message[:1000])



def plan_failure(
    rc: Doc, plan: Plan, error: Exception, now: datetime, kind: ControllerKind = REPLICATION_CONTROLLER
) -> list[Write]:
    """A commit the database refused for good: say so on the controller, and stop."""
    reason = "FailedCreate" if plan.creating else "FailedDelete"
    uid = controller_uid(rc.path, rc.create_time)
    message = f"{reason.removeprefix('Failed').lower()} failed: {error}"[:1000]
    old = kind.parse_status(rc.data)
    status = old.model_copy(
        update={"conditions": _condition_set(old.conditions, failure(reason, message), now)}
    )
    update = Update(rc.path, {"status": status.to_doc()}, if_updated_at=rc.update_time)
    return [update, event_for(rc.namespace, rc.name, uid, reason, message, "Warning", kind)]


@dataclass
class SyncResult:
    created: int = 0
    deleted: int = 0
    adopted: int = 0
    released: int = 0
    invalid: bool = False
    failed: bool = False
    passes: int = 0
    removed: bool = False  # marked for deletion and done: its document deleted (or our finalizer off)

    def add(self, plan: Plan) -> None:
        self.removed = self.removed or plan.deleted_self
        self.created += len(plan.creating)
        self.deleted += len(plan.deleting)
        self.adopted += len(plan.adopting)
        self.released += len(plan.releasing)


def read_pods(
    store: Store, rc: Doc, settings: Settings, namespace_pods: list[Doc] | None = None,
    kind: ControllerKind = REPLICATION_CONTROLLER,
) -> list[PodInfo]:
    """The pods a pass must see: those the selector matches and those the controller owns.

    ``namespace_pods``, every pod of the namespace read earlier (resync reads them all
    once, *after* the controllers), is filtered in memory instead of queried again: any
    pass that changed pods since the controller was read also changed the controller,
    so the guarded commit fails and re-reads.
    """
    parsed = kind.parse(rc.data, rc.namespace, rc.name, settings.max_replicas)
    selector = LabelSelector.of(parsed.obj.spec.selector if parsed.obj is not None else {})
    uid = controller_uid(rc.path, rc.create_time)
    if namespace_pods is None:
        docs = store.pods_matching_or_owned(rc.namespace, selector, owner_ref(rc.name, uid, kind))
        return [PodInfo.from_doc(doc) for doc in docs]
    infos = [PodInfo.from_doc(doc) for doc in namespace_pods]
    return [
        p for p in infos
        if selector.matches(p.labels) or (p.controller_ref() or {}).get("uid") == uid
    ]


def sync_controller(
    store: Store, settings: Settings, namespace: str, name: str, clock: Clock,
    prefetched: tuple[Doc, list[Doc]] | None = None,
    kind: ControllerKind = REPLICATION_CONTROLLER,
) -> SyncResult:
    """Converge one controller: read, plan, commit; again while a commit was stale or capped.

    ``prefetched`` (the controller and its namespace's pods, as resync read them) stands
    in for the first read only.
    """
    path = kind.path(namespace, name)
    result = SyncResult()
    stale = 0
    while stale < MAX_ATTEMPTS:
        if prefetched is not None:
            rc: Doc | None = prefetched[0]
            pods = read_pods(store, prefetched[0], settings, prefetched[1], kind)
            prefetched = None
        else:
            rc = store.get(path)
            pods = read_pods(store, rc, settings, kind=kind) if rc is not None else []
        if rc is None:
            return result
        now = clock()
        plan = plan_sync(rc, pods, settings, now, kind=kind)
        if plan.want > plan.active and not plan.errors:
            # Short of pods: the namespace's quotas decide how many may be made.
            admission = quota.for_controller(store, rc, settings)
            if admission is not None:
                plan = plan_sync(rc, pods, settings, now, admission, kind)
        result.invalid = bool(plan.errors)
        if not plan.writes:
            return result
        try:
            store.commit(plan.writes, now)
        except StaleWrite:
            stale += 1
            continue
        except (gexc.InvalidArgument, gexc.PermissionDenied, gexc.ResourceExhausted) as error:
            result.failed = True
            log.error("sync failed", extra=ref_fields(kind.kind, namespace, name, error=str(error)))
            failure_writes = plan_failure(rc, plan, error, now, kind)
            try:
                store.commit(failure_writes, now)
            except StaleWrite:
                stale += 1
                continue
            except gexc.InvalidArgument:
                # The condition does not fit either (a document at Firestore's size limit):
                # the event, a document of its own, says it; the pass ends without raising.
                store.record([w for w in failure_writes if isinstance(w, RecordEvent)], now)
            return result
        result.passes += 1
        result.add(plan)
        _log_plan(kind, namespace, name, plan)
        if not plan.more:
            return result
    raise Contention(f"{kind.kind} {namespace}/{name}: no pass committed in {MAX_ATTEMPTS} attempts")


def _log_plan(kind: ControllerKind, namespace: str, name: str, plan: Plan) -> None:
    if plan.errors:
        log.warning("invalid spec", extra=ref_fields(kind.kind, namespace, name, errors=plan.errors))
        return
    if plan.deleted_self:
        message = "marked for deletion, dependents dealt with: deleted"
    elif plan.releasing and not plan.adopting and not plan.want:
        message = "marked for deletion: orphaning its pods"
    elif plan.creating:
        message = "too few replicas"
    elif plan.deleting:
        message = "too many replicas"
    else:
        message = "status updated"
    log.info(
        message,
        extra=ref_fields(
            kind.kind, namespace, name,
            want=plan.want, active=plan.active, creating=len(plan.creating),
            deleting=len(plan.deleting), adopting=len(plan.adopting), releasing=len(plan.releasing),
        ),
    )


@dataclass(frozen=True)
class AtRest:
    running: int  # pods Running and ready, one VM each
    finished: int  # Failed or Succeeded pods kept, no VM


def pods_at_rest(rc: Doc, settings: Settings, kind: ControllerKind = REPLICATION_CONTROLLER) -> AtRest | None:
    """The pods a controller holds when its last pass saw this very spec, every active
    pod was ready and available and nothing failed (but an invalid spec, reported); None
    when a pass could have work. Read from the controller document alone, for the idle tick."""
    old = kind.parse_status(rc.data)
    if being_deleted(rc.data):
        return None  # its pass has work: its dependents, then its own document
    if old.spec_hash != spec_hash(rc.data.get("spec", rc.data.get("desiredState"))):
        return None
    if old.replicas != old.ready_replicas:
        return None
    if old.ready_replicas > old.available_replicas:
        # Kubernetes requeues a controller minReadySeconds after a pod became ready, to count
        # it available; nothing is written then, so here resync is that requeue: each tick
        # passes such a controller until its status says every ready pod is available.
        return None
    failures = [c for c in old.conditions if c.type == FAILURE]
    if isinstance(old, ReplicaSetStatus) and old.terminating_replicas:
        return None  # pods on their way out: a pass has work when they are gone
    parsed = kind.parse(rc.data, rc.namespace, rc.name, settings.max_replicas)
    if parsed.obj is not None and not parsed.errors:
        ref = owner_ref(rc.name, controller_uid(rc.path, rc.create_time), kind)
        sample = new_pod(parsed.obj, rc.namespace, ref, datetime.fromtimestamp(0, UTC))
        if template_problems(sample, rc.namespace, settings):
            parsed = kind.parse(None, rc.namespace, rc.name, settings.max_replicas)  # invalid, reported
    if parsed.obj is None or parsed.errors:
        invalid_only = [c.reason for c in failures] == ["InvalidSpec"]
        return AtRest(old.replicas, old.finished_pods) if invalid_only else None
    if failures or old.replicas != parsed.obj.spec.replicas:
        return None
    return AtRest(old.replicas, old.finished_pods)
