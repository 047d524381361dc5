"""From a trigger to a sync pass: what each kind of document change asks for.

Errors are two kinds, as in kopf: ``RETRYABLE`` ones (contention, Firestore or the
network being briefly unavailable) raise, so the platform retries the event; anything
else is logged and dropped, since a raising function with retries on is retried for
a day, and the next resync repairs what was missed.

Many pods, one controller: the passes their changes ask for are coalesced
(``functions/coalesce.py``); so are a Deployment's passes its ReplicaSets' status
changes ask for (docs/workloads.md, *Triggers and functions*).
"""

from __future__ import annotations

import logging
from typing import Any

from google.api_core import exceptions as gexc

from functions.cloudprovider.errors import TemporaryError
from functions.coalesce import coalesced_pass
from functions.controllers.propagation import cascade_delete
from functions.controllers.replica_kinds import (
    REPLICA_SET,
    REPLICATION_CONTROLLER,
    ControllerKind,
    controller_uid,
)
from functions.controllers.replication import sync_controller
from functions.events import OWN_METADATA, DocumentChange, EventError, decode
from functions.logs import ref_fields
from functions.objects import Contention
from functions.runtime import Runtime
from functions.store import CONTROLLERS, DEPLOYMENTS, PODS, REPLICA_SETS, SERVICES, doc_path

log = logging.getLogger("firecontrol.handlers")

RETRYABLE: tuple[type[Exception], ...] = (
    Contention,
    TemporaryError,
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.TooManyRequests,
    gexc.Aborted,
    gexc.Unknown,
    ConnectionError,
    TimeoutError,
)


def decode_event(attributes: Any, data: Any) -> DocumentChange | None:
    try:
        return decode(attributes, data)
    except EventError as error:
        log.error("undecodable event dropped", extra={"error": str(error)})
        return None


def _elsewhere(change: DocumentChange, collection: str) -> bool:
    """An event for another collection (a trigger registered on the wrong path): ignored."""
    if change.collection == collection:
        return False
    log.warning("event for another collection ignored", extra={"path": change.path, "expected": collection})
    return True


def on_controller_change(change: DocumentChange, rt: Runtime) -> dict[str, Any]:
    """Reconcile the controller a change names, unless the change was only our own status write."""
    ns, name = change.namespace, change.name
    if _elsewhere(change, CONTROLLERS):
        return {"action": "ignored"}
    if change.kind == "deleted":
        assert change.old is not None
        uid = controller_uid(change.path, change.old.create_time)
        deleted = cascade_delete(rt.store, ns, name, uid, rt.clock, old=change.old.data)
        return {"action": "cascade", "deleted": deleted}
    if change.only_changed():
        log.debug("status-only change skipped", extra=ref_fields("ReplicationController", ns, name))
        return {"action": "skipped"}
    result = sync_controller(rt.store, rt.settings, ns, name, rt.clock)
    return {"action": "synced", **vars(result)}


# What a Deployment's pass reads of its ReplicaSets' status: a change of any of these (or
# of the ReplicaFailure condition) is worth its pass (Kubernetes' deployment controller is
# enqueued on every ReplicaSet update; our own status writes that leave these alone, the
# slow-start window say, change nothing it decides on).
DEPLOYMENT_READS = ("replicas", "readyReplicas", "availableReplicas", "terminatingReplicas", "observedGeneration")


def controller_of(data: Any) -> tuple[str, str] | None:
    """The (kind, name) of a document's controlling owner reference, if it names one we can use."""
    from functions.pod_policy import controller_reference

    owner = controller_reference(data) or {}
    kind, name = owner.get("kind"), owner.get("name")
    if not isinstance(kind, str) or not isinstance(name, str) or not name or "/" in name:
        return None
    return kind, name


def _counts(data: Any) -> tuple[Any, ...]:
    """What of a ReplicaSet's status its Deployment reads: the counts, and its
    ``ReplicaFailure`` condition (copied onto the Deployment, a quota refusal say)."""
    from functions.pod_policy import as_dict, as_list

    status = as_dict(as_dict(data).get("status"))
    failure = next(((c.get("status"), c.get("reason"), c.get("message"))
                    for c in map(as_dict, as_list(status.get("conditions"))) if c.get("type") == "ReplicaFailure"), None)
    return (*(status.get(field) for field in DEPLOYMENT_READS), failure)


def on_replicaset_change(change: DocumentChange, rt: Runtime) -> dict[str, Any]:
    """Reconcile the ReplicaSet a change names; a change of its counts, or its deletion,
    goes on to the Deployment that owns it (coalesced)."""
    ns, name = change.namespace, change.name
    if _elsewhere(change, REPLICA_SETS):
        return {"action": "ignored"}
    if change.kind == "deleted":
        assert change.old is not None
        uid = controller_uid(change.path, change.old.create_time)
        deleted = cascade_delete(rt.store, ns, name, uid, rt.clock, kind=REPLICA_SET, old=change.old.data)
        # Its Deployment's own cascade deleted it (the usual case): no pass to ask for.
        return {"action": "cascade", "deleted": deleted, **pass_to_deployment(rt, ns, change.old.data, if_there=True)}
    if change.only_changed():
        assert change.old is not None and change.new is not None
        if _counts(change.old.data) == _counts(change.new.data):
            log.debug("status-only change skipped", extra=ref_fields(REPLICA_SET.kind, ns, name))
            return {"action": "skipped"}
        return {"action": "passed-on", **pass_to_deployment(rt, ns, change.new.data)}
    result = sync_controller(rt.store, rt.settings, ns, name, rt.clock, kind=REPLICA_SET)
    reply: dict[str, Any] = {"action": "synced", **vars(result)}
    old_owner = controller_of(change.old.data) if change.old is not None else None
    new_owner = controller_of(change.new.data) if change.new is not None else None
    if new_owner is None:
        # An orphan: a Deployment whose selector matches it adopts it (Kubernetes enqueues
        # every matching Deployment when an orphan ReplicaSet is added or changed).
        reply["adopters"] = pass_deployments_selecting(rt, ns, change.new.data if change.new is not None else {})
    if old_owner != new_owner and old_owner is not None and old_owner[0] == "Deployment":
        reply.update(pass_to_deployment(rt, ns, change.old.data if change.old is not None else {}))
    return reply


def pass_to_deployment(rt: Runtime, namespace: str, replica_set: Any, if_there: bool = False) -> dict[str, Any]:
    """The pass of the Deployment that controls ``replica_set`` (a document's data),
    coalesced; with ``if_there``, only if that Deployment exists (one read, where a
    coalesced pass would make a lease and wait its slot to find nothing)."""
    owner = controller_of(replica_set)
    if owner is None or owner[0] != "Deployment":
        return {"deployment": None}
    if if_there and rt.store.get(doc_path(namespace, DEPLOYMENTS, owner[1])) is None:
        return {"deployment": None}
    ran = coalesced_deployment_pass(rt, namespace, owner[1])
    return {"deployment": owner[1], "coalesced": not ran}


def pass_deployments_selecting(rt: Runtime, namespace: str, replica_set: Any) -> list[str]:
    """The passes of the namespace's Deployments whose selector matches an orphan
    ReplicaSet's labels (one may adopt it); their names."""
    from functions.api.deployment import parse_deployment
    from functions.pod_policy import labels_of

    labels = labels_of(replica_set) if isinstance(replica_set, dict) else {}
    if not labels:
        return []
    names: list[str] = []
    for doc in rt.store.in_namespace(namespace, DEPLOYMENTS):
        parsed = parse_deployment(doc.data, namespace, doc.name)
        if parsed.obj is not None and parsed.obj.spec.label_selector.matches(labels):
            coalesced_deployment_pass(rt, namespace, doc.name)
            names.append(doc.name)
    return names


def coalesced_deployment_pass(rt: Runtime, namespace: str, name: str) -> bool:
    """The Deployment's pass, coalesced as a controller's: True if this call ran it."""
    from functions.controllers.deployments import sync_deployment

    return coalesced_pass(rt, namespace, "Deployment", name,
                          lambda: sync_deployment(rt.store, rt.settings, namespace, name, rt.clock))


def on_deployment_change(change: DocumentChange, rt: Runtime) -> dict[str, Any]:
    """Run the Deployment's pass, unless the change was only our own status write; a
    deleted Deployment's ReplicaSets are deleted (their own triggers cascade the pods)."""
    from functions.controllers.deployments import cascade_delete_deployment, sync_deployment

    ns, name = change.namespace, change.name
    if _elsewhere(change, DEPLOYMENTS):
        return {"action": "ignored"}
    if change.kind == "deleted":
        assert change.old is not None
        uid = controller_uid(change.path, change.old.create_time)  # object_uid, as every kind's
        deleted = cascade_delete_deployment(rt.store, ns, name, uid, rt.clock, old=change.old.data)
        return {"action": "cascade", "deleted": deleted}
    if change.only_changed():
        log.debug("status-only change skipped", extra=ref_fields("Deployment", ns, name))
        return {"action": "skipped"}
    result = sync_deployment(rt.store, rt.settings, ns, name, rt.clock)
    return {"action": "synced", **vars(result)}


def on_service_change(change: DocumentChange, rt: Runtime) -> dict[str, Any]:
    """Reconcile the service a change names; a service deleted outright still loses its load balancer."""
    from functions.controllers.services import sync_service, teardown_deleted

    ns, name = change.namespace, change.name
    if _elsewhere(change, SERVICES):
        return {"action": "ignored"}
    if change.kind == "deleted":
        assert change.old is not None
        if rt.store.get(change.path) is not None:
            # Re-created since (events come late and out of order): the load balancer,
            # named by namespace and name, is the new service's now.
            return {"action": "skipped"}
        removed = teardown_deleted(rt.provider, rt.settings, ns, name, change.old.data, change.old.create_time)
        return {"action": "teardown" if removed else "nothing"}
    if change.only_changed((*OWN_METADATA, "finalizers")):
        return {"action": "skipped"}
    # The old value: a whole-document write that dropped the finalizer with the type
    # still leads to the teardown, and new unsupported fields are reported once.
    previous = change.old.data if change.old is not None else {}
    result = sync_service(rt.store, rt.provider, rt.settings, ns, name, rt.clock, previous=previous)
    return {"action": result.action, "ip": result.ip, "error": result.error}


def _phase_and_readiness(data: dict[str, Any]) -> tuple[Any, ...]:
    from functions.pod_policy import as_dict, as_list

    status = as_dict(data.get("status"))
    ready = [c.get("status") for c in map(as_dict, as_list(status.get("conditions"))) if c.get("type") == "Ready"]
    scheduled = [c.get("status") for c in map(as_dict, as_list(status.get("conditions"))) if c.get("type") == "PodScheduled"]
    return status.get("phase"), ready, scheduled, as_dict(data.get("spec")).get("nodeName")


def vm_to_release(data: dict[str, Any]) -> bool:
    """A status change that leaves the pod runtime work: the pod still holds its VM and
    has finished (the agent reported Succeeded or Failed, or resync found it lost), or is
    being deleted and its agent reported every container terminated. Its pass then
    releases the VM and drops the finalizer, so the event that follows asks for nothing."""
    from functions.controllers.pods import FINALIZER
    from functions.controllers.termination import containers_terminated, runs_agent
    from functions.pod_policy import as_dict, as_list

    meta, status = as_dict(data.get("metadata")), as_dict(data.get("status"))
    if FINALIZER not in as_list(meta.get("finalizers")):
        return False
    if status.get("phase") in ("Succeeded", "Failed"):
        return True
    return meta.get("deletionTimestamp") is not None and runs_agent(data) \
        and status.get("terminationStarted") is not None and containers_terminated(data)


def vm_unobserved(data: dict[str, Any]) -> bool:
    """The agent reported the pod Running before the pod runtime saw its VM RUNNING (an
    agent VM's pass ends once the insert is accepted): one pass records the VM's
    addresses and fingerprint now rather than at the next resync tick; the status it
    writes carries the fingerprint, so the event that follows asks for nothing."""
    from functions.controllers.termination import runs_agent
    from functions.pod_policy import as_dict

    meta, status = as_dict(data.get("metadata")), as_dict(data.get("status"))
    return runs_agent(data) and meta.get("deletionTimestamp") is None and status.get("phase") == "Running" \
        and status.get("vmFingerprint") is None


def on_pod_change(change: DocumentChange, rt: Runtime) -> dict[str, Any]:
    """Run the pod; a change of its phase or readiness goes on to its owner and its services.

    Our own status writes come back here as events: they are not reconciled again,
    only passed on when the phase, readiness or VM changed, so nothing loops. A status
    written by the pod's agent (``pod_status``) is reconciled only when it leaves the
    VM to release (``vm_to_release``): the agent's last report finishes a deletion; or
    when its VM was not yet seen RUNNING (``vm_unobserved``).
    """
    from functions.controllers.pods import sync_pod
    from functions.pod_policy import labels_of

    if _elsewhere(change, PODS):
        return {"action": "ignored"}
    if change.kind == "deleted":
        assert change.old is not None
        # A finished pod gave up its finalizer with its VM: its document is deleted without
        # the pod runtime (a controller's or the CLI's delete), and its kept output with it.
        from functions.controllers.pod_logs import forget
        from functions.objects import doc_uid
        from functions.store import Doc

        gone = Doc(change.path, change.old.data, change.old.update_time, change.old.create_time)
        forget(rt.store, change.namespace, change.name, doc_uid(gone))
        return {"action": "passed-on", **pass_on(change.namespace, change.old.data, rt)}
    if change.only_changed((*OWN_METADATA, "finalizers"), ignored_spec=("nodeName",)):
        assert change.old is not None and change.new is not None
        reply: dict[str, Any] = {}
        if vm_to_release(change.new.data) or vm_unobserved(change.new.data):
            result = sync_pod(rt.store, rt.provider, rt.settings, change.namespace, change.name, rt.clock)
            reply = {"pod": result.action, "phase": result.phase, "error": result.error}
        if _phase_and_readiness(change.old.data) == _phase_and_readiness(change.new.data):
            return {"action": "synced" if reply else "skipped", **reply}
        return {"action": "passed-on", **reply, **pass_on(change.namespace, change.new.data, rt)}
    result = sync_pod(rt.store, rt.provider, rt.settings, change.namespace, change.name, rt.clock)
    reply = {"action": result.action, "phase": result.phase, "error": result.error}
    if result.action == "created" and change.new is not None:
        # Its VM's insert was accepted: the owner's slow start may grow now, not one
        # trigger hop later (the event of our nodeName write finds the slot's pass taken).
        reply["owner"] = pass_to_owner(change.namespace, change.new.data, rt)
    if change.kind == "updated" and change.old is not None and change.new is not None \
            and labels_of(change.old.data) != labels_of(change.new.data):
        # Relabelled: the owner may release it, and services that selected it, or now
        # do, must change their hosts.
        reply["passedOn"] = pass_on(change.namespace, change.new.data, rt, also=change.old.data)
    return reply


def pass_on(namespace: str, pod: dict[str, Any], rt: Runtime, also: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sync the pod's controller and the load-balanced services that select it (or, for
    ``also``, an earlier version of it, selected)."""
    from functions.controllers.services import services_selecting, sync_service
    from functions.pod_policy import labels_of

    synced: dict[str, Any] = {**pass_to_owner(namespace, pod, rt), "services": []}
    names: set[str] = set()
    for version in (pod, also) if also is not None else (pod,):
        names.update(services_selecting(rt.store, namespace, labels_of(version)))
    for name in sorted(names):
        sync_service(rt.store, rt.provider, rt.settings, namespace, name, rt.clock)
        synced["services"].append(name)
    return synced


def pass_to_owner(namespace: str, pod: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    """The coalesced pass of the pod's controller, if a replication controller or a ReplicaSet owns it."""
    owner = controller_of(pod)
    kind = OWNER_KINDS.get(owner[0]) if owner is not None else None
    if owner is None or kind is None:
        return {"controller": None}
    ran = coalesced_controller_pass(rt, namespace, owner[1], kind)
    return {"controller": owner[1] if ran else None, "coalesced": not ran}


# The kinds that own pods, by the kind an owner reference names.
OWNER_KINDS: dict[str, ControllerKind] = {k.kind: k for k in (REPLICATION_CONTROLLER, REPLICA_SET)}


def coalesced_controller_pass(rt: Runtime, namespace: str, name: str,
                              kind: ControllerKind = REPLICATION_CONTROLLER) -> bool:
    """The pass of a pod's controller (a replication controller or a ReplicaSet),
    coalesced per owner: True if this call ran it."""
    return coalesced_pass(rt, namespace, kind.kind, name,
                          lambda: sync_controller(rt.store, rt.settings, namespace, name, rt.clock, kind=kind))


def guarded(what: str, fields: dict[str, Any], call: Any) -> Any:
    """Run a handler: raise what the platform should retry, log and drop the rest."""
    try:
        return call()
    except RETRYABLE:
        log.warning(f"{what}: temporary failure, the platform will retry", extra=fields, exc_info=True)
        raise
    except Exception:
        log.exception(f"{what}: failed; dropped until the next resync", extra=fields)
        return None


HANDLERS: dict[str, tuple[str, Any]] = {
    "sync_controller": ("ReplicationController", on_controller_change),
    "sync_replicaset": ("ReplicaSet", on_replicaset_change),
    "sync_deployment": ("Deployment", on_deployment_change),
    "sync_pod": ("Pod", on_pod_change),
    "sync_service": ("Service", on_service_change),
}


def handle_event(function: str, event: Any, rt: Runtime) -> dict[str, Any] | None:
    """What a Firestore-triggered entry point does: decode, dispatch, guard."""
    change = decode_event(event, event.data)
    if change is None:
        return None
    kind, handler = HANDLERS[function]
    fields = {"object": f"{kind}/{change.namespace}/{change.name}", "change": change.kind}
    result: dict[str, Any] | None = guarded(function, fields, lambda: handler(change, rt))
    return result
