"""The pod runtime: each pod is one Compute Engine VM running its containers.

A pass reads the pod and acts once, in an order that leaks nothing: the finalizer is
on the document before the VM is made, and comes off only after the VM is gone.
A VM that cannot be made (quota, bad machine type) is a condition and an event on
the pod, retried with backoff by resync, never in a tight loop. ``pod_status`` is the
pure mapping from a VM to the pod's status.

A VM made with ``Settings.pod_status_url`` runs the pod agent (docs/agent-protocol.md):
its pod records ``status.vmId`` and ``status.vmAgent`` and gets a heartbeat document,
and from then on the agent's reports (written by ``pod_status``) own the phase,
``Ready``, ``ContainersReady`` and ``containerStatuses``; this runtime only adds what
it knows of the VM (scheduled, addresses, gone or stopped: Failed). A pod made before
the agent (no ``vmAgent``) is Ready while its VM is RUNNING, as before. Deleting an
agent pod is graceful (``functions/controllers/termination.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from functions.api.admission import pod_problems
from functions.api.kinds import POD
from functions.api.meta import Condition, replace_condition, set_condition
from functions.api.names import zone_or_none
from functions.api.parse import parse_pod
from functions.api.pod import Pod, PodStatus, finished_readiness
from functions.api.shapes import is_legacy
from functions.cloudprovider import (
    CloudError,
    CloudProvider,
    InstanceInfo,
    NameConflictError,
    NotFoundError,
    Owner,
    PermanentError,
    TemporaryError,
)
from functions.cloudprovider import names as cloud_names
from functions.config import Settings
from functions.controllers.pod_logs import Kept, forget_writes, keep, read_port, save_writes
from functions.controllers.termination import (
    TERMINATE_KEY,
    grace_seconds,
    runs_agent,
    termination_step,
)
from functions.fingerprint import vm_term
from functions.heartbeats import heartbeat_path, initial_heartbeat
from functions.logs import ref_fields
from functions.objects import GuardedSync, Retry, doc_uid, same_data
from functions.pod_policy import VM_FINALIZER
from functions.quota import quota_problems_for_pod
from functions.store import PODS, Create, Delete, Doc, Store, Update, Write
from functions.vm_spec import (
    MACHINE_TYPE_ANNOTATION,
    instance_name,
    instance_spec,
    machine_type,
    own_vm_names,
    pod_zone,
)

log = logging.getLogger("firecontrol.pods")

KIND = "Pod"
FINALIZER = VM_FINALIZER
# Delays between attempts to create a VM that failed for good: data, as kopf has it.
CREATE_BACKOFF = (10.0, 20.0, 40.0, 80.0, 160.0, 300.0)
RUNNING_POLL = (0.05, 2.0)  # first and longest wait between looks at a booting VM
STOPPED = {"STOPPING", "STOPPED", "SUSPENDING", "SUSPENDED", "TERMINATED"}
AGENT_VERSION = "1"  # the protocol version a VM's agent speaks (metadata fc-agent)

Action = Literal["nothing", "waiting", "created", "observed", "deleted", "failed", "invalid", "terminating"]


@dataclass
class PodResult:
    action: Action = "nothing"
    phase: str | None = None
    error: str | None = None


def backoff(attempts: int) -> float:
    return CREATE_BACKOFF[min(max(attempts, 1), len(CREATE_BACKOFF)) - 1]


def pod_status(old: PodStatus, info: InstanceInfo | None, now: datetime,
               containers: list[str] | None = None) -> PodStatus:
    """The pod's status for its VM as seen now (None: the VM is gone). ``containers``: the
    pod's container names, for the first not-ready message of an agent pod."""
    if info is None or info.status in STOPPED:
        reason = "InstanceGone" if info is None else "InstanceStopped"
        message = "the pod's VM no longer exists" if info is None else f"the pod's VM is {info.status}"
        ready = Condition(type="Ready", status="False", reason=reason, message=message)
        return finished_readiness(old.model_copy(
            update={
                "phase": "Failed", "reason": reason, "message": message, "vm_fingerprint": None,
                "conditions": set_condition(old.conditions, "Ready", ready, now),
            }
        ), now)
    running = info.status == "RUNNING"
    scheduled = Condition(type="PodScheduled", status="True", reason="InstanceCreated", message=f"VM {info.name}")
    if old.vm_agent is not None:
        return agent_pod_status(old, info, now, scheduled, containers or [])
    ready = Condition(type="Ready", status="True" if running else "False", reason=f"Instance{info.status.title()}")
    conditions = set_condition(set_condition(old.conditions, "PodScheduled", scheduled, now), "Ready", ready, now)
    return old.model_copy(
        update={
            "phase": "Running" if running else "Pending",
            "conditions": conditions,
            "host_ip": info.internal_ip,
            "pod_ip": info.internal_ip,
            "start_time": old.start_time or (now if running else None),
            "reason": None,
            "message": None,
            "vm_fingerprint": vm_term(info.name) if running else None,
            "vm_zone": info.zone,
        }
    )


def agent_pod_status(old: PodStatus, info: InstanceInfo, now: datetime, scheduled: Condition,
                     containers: list[str]) -> PodStatus:
    """A live VM whose agent reports: what the agent wrote (phase, ``Ready``,
    ``ContainersReady``, ``containerStatuses``, or ``Ready`` Unknown from the node
    lifecycle) is kept; until its first report the pod is Pending and not Ready, as the
    kubelet says before the containers run. The fingerprint pairs the pod with its VM
    while the VM is RUNNING (the controller's readiness says whether the pod serves)."""
    running = info.status == "RUNNING"
    conditions = replace_condition(old.conditions, "PodScheduled", scheduled, now)
    waiting = f"containers with unready status: [{' '.join(containers)}]"
    for kind in ("ContainersReady", "Ready"):
        if not any(c.type == kind for c in conditions):
            not_ready = Condition(type=kind, status="False", reason="ContainersNotReady", message=waiting)
            conditions = replace_condition(conditions, kind, not_ready, now)
    return old.model_copy(
        update={
            "conditions": conditions,
            "host_ip": info.internal_ip or old.host_ip,
            "pod_ip": info.internal_ip or old.pod_ip,
            "start_time": old.start_time or (now if running else None),
            "vm_fingerprint": vm_term(info.name) if running else None,
            "vm_zone": info.zone,
        }
    )


def _finalizers(doc: Doc) -> list[str]:
    meta = doc.data.get("metadata")
    raw = meta.get("finalizers") if isinstance(meta, dict) else None
    return [f for f in raw if isinstance(f, str)] if isinstance(raw, list) else []


def _old_status(doc: Doc) -> tuple[PodStatus, dict[str, Any]]:
    raw = doc.data.get("status")
    raw = raw if isinstance(raw, dict) else {}
    try:
        return PodStatus.model_validate(raw), raw
    except ValueError:
        return PodStatus(), raw


Clock = Callable[[], datetime]


def vm_zone_of(doc: Doc) -> str | None:
    """Where the pod's VM is: the zone recorded when it was made, else the zone the pod
    asks for (a bad annotation never made a VM), else None: the configured zone."""
    status, meta = doc.data.get("status"), doc.data.get("metadata")
    recorded = zone_or_none(status.get("vmZone") if isinstance(status, dict) else None)
    if recorded is not None:
        return recorded
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    try:
        return pod_zone(annotations) if isinstance(annotations, dict) else None
    except ValueError:
        return None


def vm_name_of(doc: Doc, cluster: str) -> str:
    """The pod's VM: ``spec.nodeName`` when it is a name firecontrol gives this pod (a VM
    made under an older naming scheme is kept), else ``instance_name``."""
    spec = doc.data.get("spec")
    node = spec.get("nodeName") if isinstance(spec, dict) else None
    if isinstance(node, str) and node in own_vm_names(cluster, doc.namespace, doc.name):
        return node
    return instance_name(cluster, doc.namespace, doc.name)


def annotations_field(data: dict[str, Any]) -> str:
    """Where the document keeps its annotations: a 2014 pod's top-level ``annotations``
    (conversion takes them over ``metadata.annotations``), else ``metadata.annotations``."""
    return "annotations" if is_legacy(POD, data) and isinstance(data.get("annotations"), dict) else "metadata.annotations"


def pod_owner(doc: Doc, cluster: str) -> Owner:
    """Whose the pod's VM is: written in its labels, checked before reuse or delete."""
    return Owner(cluster=cluster, namespace=doc.namespace, kind=KIND, name=doc.name, uid=doc_uid(doc))


class PodSync(GuardedSync[PodResult]):
    kind, collection = KIND, PODS

    def __init__(self, store: Store, cloud: CloudProvider, settings: Settings, clock: Clock,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(store, clock)
        self.cloud, self.settings, self.sleep = cloud, settings, sleep
        # A finished pod's output as read before its VM was deleted, by (uid, VM): a pass
        # whose commit lost a race finds the VM gone, and commits this instead.
        self._output: dict[tuple[str, str], Kept] = {}

    def absent(self) -> PodResult:
        return PodResult()

    def _vm(self, doc: Doc) -> str:
        return vm_name_of(doc, self.settings.cluster)

    def _owner(self, doc: Doc) -> Owner:
        return pod_owner(doc, self.settings.cluster)

    def _delete_vm(self, doc: Doc) -> list[Write]:
        """Delete the pod's VM if it is the pod's; one that is not is left alone and said so."""
        vm = self._vm(doc)
        try:
            self.cloud.ensure_instance_deleted(vm, vm_zone_of(doc), owner=self._owner(doc))
        except NameConflictError as error:
            log.warning("VM not deleted: not this pod's", extra=ref_fields(KIND, doc.namespace, doc.name, vm=vm, error=str(error)))
            return [self.event(doc, "NameConflict", str(error)[:1000], "Warning")]
        return []

    def _problems(self, doc: Doc, pod: Pod) -> list[str]:
        """What the model cannot know (api.admission, shared with the controller's template
        check): the zone and machine type this installation allows, Compute's limits, and
        that ``spec.nodeName`` is a name firecontrol gives this pod's VM."""
        own = own_vm_names(self.settings.cluster, doc.namespace, doc.name)
        return pod_problems(pod, doc.namespace, doc.name, self.settings, own_vm=own)

    def one_pass(self, doc: Doc) -> PodResult:
        meta = doc.data.get("metadata")
        finalizers = _finalizers(doc)
        if isinstance(meta, dict) and meta.get("deletionTimestamp") is not None:
            return self._delete(doc, finalizers)
        old, raw = _old_status(doc)
        if old.phase in ("Failed", "Succeeded"):
            if FINALIZER in finalizers:  # the VM of a finished pod is not needed any more
                return self._release_vm(doc, finalizers, old.phase)
            return PodResult("nothing", old.phase)
        parsed = parse_pod(doc.data, doc.namespace, doc.name)
        now = self.clock()
        if parsed.obj is not None and parsed.obj.spec.node_name is not None:
            self._keep_machine_type(doc, parsed.obj, old)
        problems = parsed.errors if parsed.obj is None else self._problems(doc, parsed.obj)
        if parsed.obj is None or problems:
            message = "; ".join(problems)
            failed = Condition(type="PodScheduled", status="False", reason="InvalidSpec", message=message[:1000])
            status = finished_readiness(old.model_copy(update={
                "phase": "Failed", "reason": "InvalidSpec", "message": message[:1000], "vm_fingerprint": None,
                "conditions": set_condition(old.conditions, "PodScheduled", failed, now),
            }), now)
            self.commit([Update(doc.path, {"status": status.to_doc()}, doc.update_time),
                          self.event(doc, "InvalidSpec", message, "Warning")])
            return PodResult("invalid", "Failed", message)
        if FINALIZER not in finalizers:
            # Before the VM exists, so no delete can miss it.
            self.commit([Update(doc.path, {"metadata.finalizers": [*finalizers, FINALIZER]}, doc.update_time)])
            raise Retry()
        node = parsed.obj.spec.node_name
        if node is None:
            return self._create(doc, parsed.obj, old, raw, now)
        try:
            info: InstanceInfo | None = self.cloud.get_instance(node, vm_zone_of(doc))
        except NotFoundError:
            info = None
        owner = self._owner(doc)
        if info is not None and not cloud_names.instance_owned(info.labels, owner.cluster, owner.uid, pod=owner, legacy=True):
            return self._not_ours(doc, old, info, finalizers, now)
        return self._observe(doc, old, info, {}, containers=[c.name for c in parsed.obj.spec.containers])

    def _keep_machine_type(self, doc: Doc, pod: Pod, old: PodStatus) -> None:
        """A VM's machine type is fixed once it is made, and quotas count the annotation:
        an annotation edited under a running VM is put back (Kubernetes refuses such an
        update; here any Firestore client can write it), so it cannot hide what the VM costs."""
        made = old.vm_machine_type
        asked = machine_type(pod, self.settings.machine_type)
        if made is None or asked == made:
            return
        message = (f"metadata.annotations[{MACHINE_TYPE_ANNOTATION!r}] cannot change once the pod's VM is made: "
                   f"its VM is {made}, not {asked[:80]!r}; put back (delete the pod to change it, its controller "
                   "makes a new one)")
        path = f"{annotations_field(doc.data)}.`{MACHINE_TYPE_ANNOTATION}`"
        self.commit([Update(doc.path, {path: made}, doc.update_time), self.event(doc, "ImmutableField", message, "Warning")])
        log.warning("machine type put back", extra=ref_fields(KIND, doc.namespace, doc.name, vm=made, asked=asked[:80]))
        raise Retry()

    def _not_ours(self, doc: Doc, old: PodStatus, info: InstanceInfo, finalizers: list[str], now: datetime) -> PodResult:
        """The VM under the pod's node name is someone else's (labels): the pod has no VM of
        its own. It fails, gives up its finalizer, and the VM is neither used nor deleted."""
        message = f"VM {info.name} is not this pod's (its labels name another owner); it is left alone"
        failed = Condition(type="PodScheduled", status="False", reason="NameConflict", message=message)
        status = finished_readiness(old.model_copy(update={
            "phase": "Failed", "reason": "NameConflict", "message": message, "vm_fingerprint": None,
            "host_ip": None, "pod_ip": None,
            "conditions": set_condition(old.conditions, "PodScheduled", failed, now),
        }), now)
        fields: dict[str, Any] = {"status": status.to_doc()}
        if FINALIZER in finalizers:
            fields["metadata.finalizers"] = [f for f in finalizers if f != FINALIZER]
        self.commit([Update(doc.path, fields, doc.update_time), self.event(doc, "NameConflict", message, "Warning")])
        log.warning("VM is not this pod's", extra=ref_fields(KIND, doc.namespace, doc.name, vm=info.name))
        return PodResult("failed", "Failed", message)

    def _create(self, doc: Doc, pod: Any, old: PodStatus, raw: dict[str, Any], now: datetime) -> PodResult:
        attempts = int(raw.get("createAttempts") or 0) if isinstance(raw.get("createAttempts"), int) else 0
        next_time = raw.get("nextAttemptTime")
        if isinstance(next_time, datetime) and next_time > now:
            return PodResult("waiting", old.phase)
        agent = self.settings.pod_status_url is not None
        reporting: dict[str, Any] = (
            {"status_url": self.settings.pod_status_url, "heartbeat": self.settings.agent_heartbeat} if agent else {}
        )
        spec = instance_spec(pod, self.settings.cluster, self.settings.machine_type, uid=doc_uid(doc),
                             vm_name=self._vm(doc), external_ip=self.settings.external_ips,
                             service_account=self.settings.pod_service_account, **reporting)
        try:
            over = quota_problems_for_pod(self.store, doc.namespace, doc, self.settings)
            if over:  # as Kubernetes refuses the pod: no VM while the namespace is over its quota
                raise PermanentError("; ".join(over))
            info: InstanceInfo | None = self.cloud.ensure_instance(spec)
        except PermanentError as error:
            # A name held by another VM is a conflict, not ours to adopt: backed off like any refusal.
            reason = "NameConflict" if isinstance(error, NameConflictError) else "FailedCreate"
            attempts += 1
            message = f"VM {spec.name} could not be created (attempt {attempts}): {error}"[:1000]
            failed = Condition(type="PodScheduled", status="False", reason=reason, message=message)
            status = old.model_copy(update={"conditions": set_condition(old.conditions, "PodScheduled", failed, now)})
            fields = {
                "status": {**status.to_doc(), "createAttempts": attempts,
                           "nextAttemptTime": now + timedelta(seconds=backoff(attempts))},
            }
            self.commit([Update(doc.path, fields, doc.update_time), self.event(doc, reason, message, "Warning")])
            log.warning("VM not created", extra=ref_fields(KIND, doc.namespace, doc.name, vm=spec.name, attempts=attempts,
                                                           reason=reason, error=str(error)))
            return PodResult("failed", old.phase, message)
        except TemporaryError as error:
            self._failing(doc, old, raw, spec.name, error, now)
            raise
        made = old.model_copy(update={"vm_machine_type": spec.machine_type})
        heartbeat: list[Write] = []
        if agent and info is not None:
            # The agent's reports make the pod Ready; its first one (and the VM seen RUNNING
            # later) is enough, so the pass ends once the insert is accepted.
            made = made.model_copy(update={"vm_id": info.id or None, "vm_agent": AGENT_VERSION})
            heartbeat = [self._heartbeat_write(doc, info, now)]
        else:
            info = self._wait_running(spec.name, spec.zone, info)
        log.info("VM created", extra=ref_fields(KIND, doc.namespace, doc.name, vm=spec.name, agent=agent,
                                                status=info.status if info else None))
        return self._observe(doc, made, info, {"spec.nodeName": spec.name}, created=True,
                             containers=[c.name for c in pod.spec.containers], also=heartbeat)

    def _wait_running(self, name: str, zone: str | None, info: InstanceInfo | None) -> InstanceInfo | None:
        """A VM without an agent is Ready when RUNNING: look again until it is, for a while."""
        deadline = time.monotonic() + self.settings.pod_start_timeout
        delay = RUNNING_POLL[0]
        while info is not None and info.status not in ("RUNNING", *STOPPED) and time.monotonic() < deadline:
            self.sleep(delay)
            delay = min(delay * 2, RUNNING_POLL[1])
            try:
                info = self.cloud.get_instance(name, zone)
            except NotFoundError:
                info = None
        return info

    def _heartbeat_write(self, doc: Doc, info: InstanceInfo, now: datetime) -> Write:
        """The pod's heartbeat document as its new VM starts: a leftover of an earlier pod
        of the same name (its TTL not yet run out) is overwritten, guarded."""
        path = heartbeat_path(doc.namespace, doc.name)
        data = initial_heartbeat(now, pod_uid=doc_uid(doc), instance_name=info.name, instance_id=info.id,
                                 zone=info.zone)
        existing = self.store.get(path)
        return Create(path, data) if existing is None else Update(path, data, existing.update_time)

    def _forget_heartbeat(self, doc: Doc) -> list[Write]:
        """The heartbeat document goes with the VM (a VM made before the agent has none)."""
        return [Delete(heartbeat_path(doc.namespace, doc.name))] if runs_agent(doc.data) else []

    def _failing(self, doc: Doc, old: PodStatus, raw: dict[str, Any], vm: str, error: TemporaryError,
                 now: datetime) -> None:
        """Compute keeps failing (after the provider's retries): say so on the pod once, then
        the caller re-raises so the platform retries. Later failures write nothing."""
        current = next((c for c in old.conditions if c.type == "PodScheduled"), None)
        log.warning("VM not created yet: Compute is failing", extra=ref_fields(KIND, doc.namespace, doc.name, vm=vm, error=str(error)))
        if current is not None and (current.status, current.reason) == ("False", "FailedCreate"):
            return
        message = f"VM {vm} could not be created yet, retrying: {error}"[:1000]
        failed = Condition(type="PodScheduled", status="False", reason="FailedCreate", message=message)
        status = old.model_copy(update={"conditions": set_condition(old.conditions, "PodScheduled", failed, now)})
        kept = {k: raw[k] for k in ("createAttempts", "nextAttemptTime") if k in raw}
        self.commit([Update(doc.path, {"status": {**status.to_doc(), **kept}}, doc.update_time),
                     self.event(doc, "FailedCreate", message, "Warning")])

    def _observe(self, doc: Doc, old: PodStatus, info: InstanceInfo | None, extra: dict[str, Any],
                 created: bool = False, containers: list[str] | None = None, also: list[Write] | None = None) -> PodResult:
        now = self.clock()
        status = pod_status(old, info, now, containers)
        status_doc = status.to_doc()
        fields = dict(extra)
        writes: list[Write] = []
        if status.phase == "Failed" and FINALIZER in _finalizers(doc):
            # A dead VM is not coming back: release what is left of it now, keep the pod's
            # record and its containers' output (a stopped VM's port still holds it).
            writes += self._keep_output(doc, info) + self._delete_vm(doc) + self._forget_heartbeat(doc)
            fields["metadata.finalizers"] = [f for f in _finalizers(doc) if f != FINALIZER]
        if not same_data(status_doc, doc.data.get("status")):
            fields["status"] = status_doc
        if fields:
            writes.append(Update(doc.path, fields, doc.update_time))
        writes += also or []
        if created:
            writes.append(self.event(doc, "Scheduled", f"VM {extra['spec.nodeName']} created"))
        if status.phase == "Failed" and old.phase != "Failed":
            writes.append(self.event(doc, status.reason or "Failed", status.message or "", "Warning"))
        if writes:
            self.commit(writes)
        return PodResult("created" if created else "observed", status.phase)

    def _release_vm(self, doc: Doc, finalizers: list[str], phase: str) -> PodResult:
        output = self._keep_output(doc, self._own_instance(doc))
        conflict = self._delete_vm(doc)
        rest = [f for f in finalizers if f != FINALIZER]
        self.commit([Update(doc.path, {"metadata.finalizers": rest}, doc.update_time), *conflict,
                     *self._forget_heartbeat(doc), *output])
        return PodResult("deleted", phase)

    def _own_instance(self, doc: Doc) -> InstanceInfo | None:
        """The finished pod's VM if it is there and this pod's (another's output is not
        this pod's to keep); None otherwise, or when Compute cannot say (logged)."""
        spec = doc.data.get("spec")
        if not isinstance(spec, dict) or not spec.get("nodeName") or not runs_agent(doc.data):
            return None  # never had a VM, or one without an agent: nothing on its port 2
        vm = self._vm(doc)
        try:
            info = self.cloud.get_instance(vm, vm_zone_of(doc))
        except NotFoundError:
            return None
        except CloudError as error:
            log.warning("pod's output not kept: its VM could not be read",
                        extra=ref_fields(KIND, doc.namespace, doc.name, vm=vm, error=str(error)[:500]))
            return None
        owner = self._owner(doc)
        return info if cloud_names.instance_owned(info.labels, owner.cluster, owner.uid, pod=owner, legacy=True) else None

    def _keep_output(self, doc: Doc, info: InstanceInfo | None) -> list[Write]:
        """The write keeping a finished pod's output (``functions/controllers/pod_logs.py``), read once
        from its VM (``info``: there and this pod's) before the VM is released; best effort."""
        uid, vm, zone = doc_uid(doc), self._vm(doc), vm_zone_of(doc)
        kept = self._output.get((uid, vm))
        if kept is None and info is not None and runs_agent(doc.data):
            kept = self._read_output(doc, vm, zone)
            if kept is not None:
                self._output[(uid, vm)] = kept
        if kept is None:
            return []
        return save_writes(self.store, doc, uid, vm, kept, self.clock())

    def _read_output(self, doc: Doc, vm: str, zone: str | None) -> Kept | None:
        try:
            return keep(*read_port(self.cloud, vm, zone))
        except (CloudError, ValueError) as error:  # ValueError: an answer not as documented
            log.warning("pod's output not kept: its VM's serial port could not be read",
                        extra=ref_fields(KIND, doc.namespace, doc.name, vm=vm, error=str(error)[:500]))
            return None

    def _delete(self, doc: Doc, finalizers: list[str]) -> PodResult:
        """Two-phase delete: the VM first, then the finalizer, then the document. A VM whose
        agent runs is given its grace period first (``functions/controllers/termination.py``)."""
        if FINALIZER in finalizers:
            step = termination_step(doc.data, self.clock())
            if step == "wait":
                return PodResult("terminating")
            if step == "start" and self._start_termination(doc):
                return PodResult("terminating")
        writes: list[Write] = self._delete_vm(doc) if FINALIZER in finalizers else []
        rest = [f for f in finalizers if f != FINALIZER]
        if rest:  # another finalizer's owner still has work to do
            if rest != finalizers:
                writes.append(Update(doc.path, {"metadata.finalizers": rest}, doc.update_time))
        else:
            writes += [Delete(doc.path, if_updated_at=doc.update_time), *forget_writes(doc.namespace, doc.name)]
        if FINALIZER in finalizers:
            writes += self._forget_heartbeat(doc)
        if writes:
            self.commit(writes)
        log.info("pod deleted", extra=ref_fields(KIND, doc.namespace, doc.name, vm=self._vm(doc)))
        return PodResult("deleted")

    def _start_termination(self, doc: Doc) -> bool:
        """Out of every target pool first, then ``fc-terminate`` for the agent, then
        ``status.terminationStarted``: True while the VM is to be waited for, False when it
        is gone already (or not this pod's), so the deletion goes on at once."""
        vm, zone, grace = self._vm(doc), vm_zone_of(doc), grace_seconds(doc.data)
        ref = ref_fields(KIND, doc.namespace, doc.name, vm=vm, grace=grace)
        try:
            pools = self.cloud.remove_instance_from_load_balancers(vm, zone, self.settings.region)
            self.cloud.set_instance_metadata(vm, zone, {TERMINATE_KEY: str(grace)}, owner=self._owner(doc))
        except NotFoundError:
            log.info("pod's VM already gone: nothing to wait for", extra=ref)
            return False
        except NameConflictError:
            return False  # not this pod's VM: the deletion leaves it alone, and says so
        now = self.clock()
        message = f"Stopping the pod's containers (grace period {grace}s); VM {vm} out of service"
        self.commit([Update(doc.path, {"status.terminationStarted": now}, doc.update_time),
                     self.event(doc, "Killing", message)])
        log.info("graceful termination started", extra={**ref, "pools": pools})
        return True


def sync_pod(store: Store, cloud: CloudProvider, settings: Settings, namespace: str, name: str,
             clock: Clock, sleep: Callable[[float], None] = time.sleep) -> PodResult:
    return PodSync(store, cloud, settings, clock, sleep).run(namespace, name)
