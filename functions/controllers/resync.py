"""The periodic sweep (Cloud Scheduler, every minute): repair what events missed.

In this order, each step reading what the one before may have changed:
0. pods whose agent went silent (one query on the heartbeats, every tick, idle or
   not: ``functions/controllers/node_lifecycle.py``) get Ready Unknown, then Failed (NodeLost),
   and a lost pod's VM is released at once;
1. the cluster's VMs (one paginated aggregatedList) and load balancers, listed
   *before* the documents are read, so one made after the read of its owner cannot
   look ownerless;
2. every controller (replication controllers and ReplicaSets: "controllers" below
   means both), then every pod (so a pass over these pods that raced another
   pass fails its guarded commit and re-reads), then every service;
3. pods whose controlling owner is gone (not among the controllers read, nor found
   when looked up) are deleted (Kubernetes' garbage collector);
4. VMs no pod holds are deleted; pods whose VM died, vanished, or is not made yet
   get a pod pass (a dead VM's pod is marked Failed, and its controller replaces it),
   and so do pods being deleted whose grace period is over (``functions/controllers/termination.py``);
5. Deployments get their pass (every tick those not at rest, Kubernetes' requeue;
   a sweep all of them, and ReplicaSets whose Deployment is gone are deleted:
   ``functions/controllers/resync_deployments.py``); every controller gets a sync pass (with the pods already read, those it controls
   and those no one does: no more reads when nothing changed), every load-balanced service is re-synced, and load balancers no
   service holds are deleted.

A VM or load balancer is deleted only if no object owns it by uid (the
``firecontrol-uid`` label, the owner in its description): a pod deleted and made
again under the same name while a sweep runs keeps its new VM. The delete itself
checks the uid again (``owner_uid``), so one made between the decision and the call
is spared too (a ``NameConflictError``, counted as skipped).

Bounded. Pods are read as a projection of the few fields resync needs, one at a
time; a projected pod over ``POD_BUDGET_BYTES`` (labels, conditions or owner
references written huge by some client) is kept slim, with only what the VM checks
need, and its namespace's controllers read their own pods in their passes, so the
sweep holds no pod whole and at most one controller's pods at a time. The work of steps 3 to 5 is a list
of items; no item starts after ``resync_deadline`` (from the tick's start), and one
still running then (a Compute operation) is left to finish on its own: the sweep
answers by its deadline. The first item not done is kept in the document
``firecontrol/resync``, and the next tick starts there and goes round (a cursor,
rather than an order derived from the objects, so every item gets its turn however
many there are and whichever of them keep failing). One object failing is reported
in the summary and as a Warning event on the object, and does not stop the others;
``summary_status`` answers 500 only when the sweep itself could not run.

Most ticks find nothing to repair, and reading every pod to learn that costs a read
per pod. So unless a full sweep is due (every ``resync_full_every`` minutes, or asked
for, or a sweep cut short goes on), a tick first asks whether the cluster is idle,
from what it reads anyway (the VMs, the controllers) and a few aggregations: every
VM RUNNING; every controller at rest (its last pass saw this spec, every active pod
ready, nothing failed); as many pods in all as the controllers hold, none of them
marked for deletion; and the pods Running on VMs exactly the VMs that run
(``functions/fingerprint.py``). Idle, it skips steps 2 to 4 and the controller
passes; anything else, and it sweeps in full. Services are re-synced either way.

Only resources named and labelled for this cluster are ever deleted.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from google.api_core import exceptions as gexc

from functions import fingerprint
from functions.cloudprovider import InstanceInfo
from functions.cloudprovider.errors import NameConflictError
from functions.cloudprovider.names import UID_LABEL, uid_label
from functions.controllers.node_lifecycle import (
    DISRUPTION_MINIMUM,
    check_heartbeat,
    count_heartbeats,
    disrupted,
    stale_heartbeats,
)
from functions.controllers.pods import FINALIZER as VM_FINALIZER
from functions.controllers.pods import STOPPED, sync_pod, vm_name_of, vm_zone_of
from functions.controllers.replica_kinds import (
    KINDS,
    REPLICA_SET,
    REPLICATION_CONTROLLER,
    ControllerKind,
    controller_uid,
    remove_pod,
)
from functions.controllers.replication import AtRest, pods_at_rest, sync_controller
from functions.controllers.resync_deployments import deployment_work, read_deployments
from functions.controllers.services import FINALIZER as LB_FINALIZER
from functions.controllers.services import held_load_balancer_names, sync_service
from functions.controllers.termination import runs_agent, termination_step
from functions.handlers import RETRYABLE
from functions.objects import doc_uid, event_for, same_data
from functions.pod_policy import PodInfo, as_dict, as_list
from functions.runtime import Runtime
from functions.store import (
    CONTROLLERS,
    PODS,
    REPLICA_SETS,
    SERVICES,
    Doc,
    StaleWrite,
    document_size,
    stored_size,
)
from functions.vm_spec import ZONE_ANNOTATION

log = logging.getLogger("firecontrol.resync")
# An aggregation refused (an index missing, say) costs this tick its shortcut, no more.
UNSUMMABLE: tuple[type[Exception], ...] = (*RETRYABLE, gexc.GoogleAPICallError, ValueError)
BOOT_WAIT_BUDGET = 60.0  # seconds all pod passes of one sweep may wait for VMs to boot
CURSOR = "firecontrol/resync"  # where the next tick starts when one stopped at its deadline
STEPS = ("nodes", "orphans", "vms", "pods", "deployments", "controllers", "services", "loadBalancers")
# What resync reads of a pod: enough to match it to its VM, judge whether it needs a
# pass, collect it as an orphan, and plan its controller's pass (``PodInfo``).
POD_FIELDS: tuple[tuple[str, ...], ...] = (
    ("metadata", "name"), ("metadata", "uid"), ("metadata", "labels"), ("metadata", "ownerReferences"),
    ("metadata", "finalizers"), ("metadata", "deletionTimestamp"), ("metadata", "creationTimestamp"),
    ("metadata", "deletionGracePeriodSeconds"), ("metadata", "annotations", ZONE_ANNOTATION),
    ("spec", "nodeName"), ("spec", "terminationGracePeriodSeconds"),
    ("status", "phase"), ("status", "conditions"), ("status", "containerStatuses"), ("status", "vmZone"),
    ("status", "vmFingerprint"), ("status", "nextAttemptTime"), ("status", "vmAgent"), ("status", "terminationStarted"),
)
# A projected pod bigger than this (labels, conditions or owner references written huge
# by some client) is kept slim: only what the VM checks need. Its controller's pass then
# reads its own pods itself, so the sweep's memory never holds such a pod whole.
POD_BUDGET_BYTES = 16 * 1024
READ_GRACE = 10.0  # seconds a listing or read may still take once the deadline has passed
Hook = Callable[[str], None]


def slim(doc: Doc) -> Doc:
    """The fields the VM and orphan checks need of a pod over the budget, each bounded."""
    meta, spec, status = (as_dict(doc.data.get(k)) for k in ("metadata", "spec", "status"))
    finalizers, refs = as_list(meta.get("finalizers")), as_list(meta.get("ownerReferences"))
    controller = [r for r in refs if isinstance(r, dict) and r.get("controller") is True][:1]
    kept_meta: dict[str, Any] = {k: meta[k] for k in ("name", "uid", "deletionTimestamp", "creationTimestamp",
                                                      "deletionGracePeriodSeconds") if k in meta
                 and stored_size(meta[k]) <= 1024}
    if isinstance(meta.get("uid"), str) and meta["uid"]:
        kept_meta["uid"] = uid_label(meta["uid"])  # as its VM's label has it: the VM check still holds
    kept_meta["finalizers"] = [VM_FINALIZER] if VM_FINALIZER in finalizers else []
    if controller and stored_size(controller) <= 1024:
        kept_meta["ownerReferences"] = controller
    kept_status = {k: status[k] for k in ("phase", "vmZone", "vmFingerprint", "nextAttemptTime", "vmAgent",
                                          "terminationStarted") if k in status
                   and stored_size(status[k]) <= 1024}
    node, grace = spec.get("nodeName"), spec.get("terminationGracePeriodSeconds")
    kept_spec: dict[str, Any] = {"nodeName": node} if isinstance(node, str) and len(node) <= 1024 else {}
    if isinstance(grace, int):
        kept_spec["terminationGracePeriodSeconds"] = grace
    data = {"metadata": kept_meta, "spec": kept_spec, "status": kept_status}
    return replace(doc, data=data)


class PastDeadline(Exception):
    """The tick's deadline came while an item ran: it goes on alone, the sweep stops."""


@dataclass(frozen=True)
class Item:
    """One piece of a sweep's work: ``run`` it; ``subject`` (kind, namespace, name, uid)
    is the object told with an event when it fails."""

    step: str
    key: str
    what: str
    run: Callable[[], Any]
    subject: tuple[str, str, str, str] | None = None

    @property
    def order(self) -> tuple[int, str]:
        return STEPS.index(self.step), self.key


def rotated(items: Iterable[Item], cursor: tuple[str, str] | None) -> list[Item]:
    """The items in their steps' order, starting at the cursor (the first item the last
    tick did not do) and going round."""
    ordered = sorted(items, key=lambda item: item.order)
    if cursor is None or cursor[0] not in STEPS:
        return ordered
    at = (STEPS.index(cursor[0]), cursor[1])
    first = next((i for i, item in enumerate(ordered) if item.order >= at), len(ordered))
    return ordered[first:] + ordered[:first]


def summary_status(summary: Mapping[str, Any]) -> int:
    """The HTTP status of a tick: 500 only when the sweep itself could not run (a
    listing or a read failed); objects that failed are in the summary and on the
    objects, and the next tick tries them again."""
    return 500 if summary.get("sweepErrors") else 200


class Sweep:
    def __init__(self, rt: Runtime, on_step: Hook | None = None) -> None:
        self.rt = rt
        self.on_step = on_step or (lambda step: None)
        self.errors: list[str] = []
        self.sweep_errors: list[str] = []
        self.counts: dict[str, int] = defaultdict(int)
        self.deadline = float("inf")
        self.had_cursor = False
        self.deferred: Counter[str] = Counter()
        self.resume_at: tuple[str, str] | None = None
        self.overran: str | None = None  # the item still running when the deadline came
        self.boot_deadline: float | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.disruption: dict[str, int | None] | None = None  # most agents silent: no evictions

    def attempt(self, what: str, call: Any) -> tuple[bool, Any]:
        """(True, result), or (False, None) with the error noted: the sweep goes on."""
        try:
            return True, call()
        except PastDeadline:
            raise
        except RETRYABLE as error:
            self.errors.append(f"{what}: {error}")
            return False, None
        except Exception as error:  # one object's bug or bad data must not stop the sweep
            log.exception(f"resync: {what} failed", extra={"object": what})
            self.errors.append(f"{what}: {type(error).__name__}: {error}")
            return False, None

    def read(self, what: str, call: Callable[[], Any]) -> tuple[bool, Any]:
        """A listing or read the sweep cannot do without: failing, it is a sweep error.
        It too is waited for no longer than the tick's deadline (a Compute listing can
        retry for minutes), so the tick answers inside the function's timeout."""
        pool = ThreadPoolExecutor(1, thread_name_prefix="resync-read")
        try:
            # The bookkeeping after the deadline (the cursor) still gets a few seconds.
            return True, pool.submit(call).result(timeout=max(READ_GRACE, self.deadline - time.monotonic()))
        except FutureTimeout:
            log.error(f"resync: {what} not done by the tick's deadline")
            self.sweep_errors.append(f"{what}: not done by the tick's deadline")
            return False, None
        except Exception as error:
            log.exception(f"resync: {what} failed")
            self.sweep_errors.append(f"{what}: {type(error).__name__}: {error}")
            return False, None
        finally:
            pool.shutdown(wait=False)

    def run(self, full: bool | None = None) -> dict[str, Any]:
        """``full``: sweep in full (True), only if the cluster is not idle (False), or
        in full when the clock says one is due (None, the Scheduler's tick)."""
        rt = self.rt
        started = time.monotonic()
        self.deadline = started + rt.settings.resync_deadline
        ops_before = rt.store.ops.snapshot()
        summary: dict[str, Any] = {"mode": "full"}
        _, vms = self.read("list instances", rt.provider.list_instances)
        _, balancers = self.read("list load balancers", lambda: rt.provider.list_load_balancers(rt.settings.region))
        self.on_step("listed")
        cursor = self.read_cursor()
        self.had_cursor = cursor is not None
        # The Deployments before their ReplicaSets: one made since cannot look ownerless.
        read_d, deployments = self.read("read deployments", lambda: read_deployments(rt))
        read, controllers = self.read("read controllers", lambda: [
            doc for collection in (CONTROLLERS, REPLICA_SETS) for doc in rt.store.all_of_kind(collection)])
        items: list[Item] = []
        if read:
            if full is None:
                full = full_sweep_due(rt.clock(), rt.settings.resync_full_every)
            if full:
                because: str | None = "a full sweep was due or asked for"
            elif cursor is not None:
                because = f"the last sweep stopped at its deadline; going on from {cursor[0]} {cursor[1]}"
            else:
                because = self.busy(vms, controllers)
            summary["mode"] = "idle" if because is None else "full"
            if because is not None:
                summary["fullBecause"] = because
                items += self.sweep_items(vms, controllers)
            if read_d:
                items += self.deployment_items(deployments, controllers if because is not None else None)
            items += self.node_items()
            items += self.service_items(balancers)
            self.on_step("read")
            self.work(rotated(items, cursor))
        summary.update({
            key: self.counts[key]
            for key in ("controllers", "deployments", "replicaSetsOrphaned", "created", "deleted", "invalid",
                        "orphansDeleted", "pods",
                        "vmsDeleted", "vmsSkipped", "services", "loadBalancersDeleted", "loadBalancersSkipped",
                        "podsOverBudget", "podsUnknown", "podsEvicted", "heartbeatsDeleted")
        })
        summary["deferred"] = dict(self.deferred)
        if self.disruption is not None:
            summary["nodesDisrupted"] = self.disruption
        summary["resumeAt"] = " ".join(self.resume_at) if self.resume_at else None
        summary["overran"] = self.overran
        ops_after = rt.store.ops.snapshot()
        summary["firestore"] = {k: ops_after[k] - ops_before[k] for k in ops_after}
        summary["errors"] = [*self.sweep_errors, *self.errors]
        summary["sweepErrors"] = self.sweep_errors
        summary["seconds"] = round(time.monotonic() - started, 3)
        log.info("resync done", extra={"summary": {k: v for k, v in summary.items() if k != "errors"}})
        return summary

    # -- the cursor ----------------------------------------------------------------

    def read_cursor(self) -> tuple[str, str] | None:
        ok, doc = self.read("read the resync cursor", lambda: self.rt.store.get(CURSOR))
        data = doc.data if ok and doc is not None else {}
        step, key = data.get("step"), data.get("key")
        return (step, key) if isinstance(step, str) and isinstance(key, str) else None

    def write_cursor(self, at: tuple[str, str] | None) -> None:
        store = self.rt.store
        if at is None and not self.had_cursor:
            return
        call = (lambda: store.delete(CURSOR)) if at is None else (
            lambda: store.put(CURSOR, {"step": at[0], "key": at[1], "at": self.rt.clock()}))
        self.read("write the resync cursor", call)

    # -- doing the work, by the deadline -------------------------------------------

    def work(self, items: list[Item]) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="resync")
        try:
            for index, item in enumerate(items):
                if time.monotonic() >= self.deadline:
                    self.defer(items[index:])
                    break
                try:
                    self.run_item(item)
                except PastDeadline:
                    # Still running: it goes on alone (every item is idempotent), and the
                    # next tick starts after it, so one that always overruns cannot starve the rest.
                    self.overran = item.what
                    self.defer(items[index + 1:])
                    break
        finally:
            self._pool.shutdown(wait=False)
        self.write_cursor(self.resume_at)

    def defer(self, left: list[Item]) -> None:
        self.resume_at = (left[0].step, left[0].key) if left else None
        self.deferred.update(item.step for item in left)
        log.warning("resync stopped at its deadline", extra={
            "deferred": dict(self.deferred), "resumeAt": " ".join(self.resume_at or ()), "overran": self.overran})

    def bounded(self, call: Callable[[], Any]) -> Any:
        """Run ``call``, but wait for it no longer than the tick's deadline."""
        assert self._pool is not None
        future = self._pool.submit(call)
        try:
            return future.result(timeout=max(0.0, self.deadline - time.monotonic()))
        except FutureTimeout:
            raise PastDeadline() from None

    def run_item(self, item: Item) -> None:
        ok, _ = self.attempt(item.what, lambda: self.bounded(item.run))
        if not ok and item.subject is not None:
            self.tell(item.subject, self.errors[-1])

    def tell(self, subject: tuple[str, str, str, str], error: str) -> None:
        """A Warning event on the object whose item failed (the next tick tries again)."""
        kind, namespace, name, uid = subject
        event = event_for(kind, namespace, name, uid, "ResyncFailed", f"resync: {error}"[:1000], "Warning")
        try:
            self.rt.store.record([event], self.rt.clock())
        except Exception:
            log.warning("resync: could not record a failure event", extra={"object": f"{kind}/{namespace}/{name}"})
    # -- what to do ------------------------------------------------------------------

    def busy(self, vms: list[InstanceInfo] | None, controllers: list[Doc]) -> str | None:
        """Why this tick must sweep in full; None when the cluster is idle."""
        rt = self.rt
        held = [pods_at_rest(doc, rt.settings, kind_of(doc)) for doc in controllers]
        early = idle_verdict(vms, controllers, held, None)
        if early is not None:
            return early
        namespaces = sorted({doc.namespace for doc in controllers})
        try:
            pods_in_all = rt.store.count_of_kind(PODS)
            pod_sum = sum(rt.store.sum_in_namespace(ns, PODS, fingerprint.FIELD) for ns in namespaces)
            # Marked for deletion by any client, its event lost: the sums cannot see it.
            leaving = sum(rt.store.count_set_in_namespace(ns, PODS, "metadata.deletionTimestamp") for ns in namespaces)
        except UNSUMMABLE as error:
            return f"the pods could not be counted: {error}"
        if leaving:
            return f"{leaving} pods marked for deletion"
        return idle_verdict(vms, controllers, held, (pods_in_all, pod_sum))

    def sweep_items(self, vms: list[InstanceInfo] | None, controllers: list[Doc]) -> list[Item]:
        """Steps 2 to 5 but the services. The controllers were read before the pods: a
        pass that changed pods since also changed its controller, so the guarded commit
        of a pass over these pods fails and re-reads."""
        rt = self.rt
        heavy: set[str] = set()  # namespaces with a pod over the budget

        def bounded(doc: Doc) -> Doc:
            if document_size(doc.path, doc.data) <= POD_BUDGET_BYTES:
                return doc
            heavy.add(doc.namespace)
            self.counts["podsOverBudget"] += 1
            return slim(doc)

        ok, pods = self.read("read pods", lambda: [bounded(d) for d in rt.store.stream_of_kind(PODS, POD_FIELDS)])
        if not ok:
            return []
        if heavy:
            log.warning("resync: pods over the sweep's memory budget, their controllers read them themselves",
                        extra={"namespaces": sorted(heavy)[:20], "pods": self.counts["podsOverBudget"]})
        live = {(d.namespace, kind_of(d).kind, d.name, controller_uid(d.path, d.create_time)) for d in controllers}
        items = [*self.orphan_items(pods, live)]
        if vms is not None:
            items += self.vm_items(vms, pods)
        # A controller's pass looks at the pods it controls and those no one controls (to
        # adopt them); another controller's pods it never touches, so it is not given them.
        controlled: dict[tuple[str, Any], list[Doc]] = defaultdict(list)
        for pod in pods:
            ref = PodInfo.from_doc(pod).controller_ref()
            controlled[(pod.namespace, ref.get("uid") if ref is not None else None)].append(pod)
        for doc in controllers:
            uid = controller_uid(doc.path, doc.create_time)
            kind = kind_of(doc).kind
            items.append(Item(
                "controllers", doc.path, f"{kind} {doc.namespace}/{doc.name}",
                partial(self.controller_pass, doc,
                        None if doc.namespace in heavy
                        else controlled[(doc.namespace, uid)] + controlled[(doc.namespace, None)]),
                (kind, doc.namespace, doc.name, uid),
            ))
        return items

    def deployment_items(self, deployments: list[Doc], controllers: list[Doc] | None) -> list[Item]:
        """Every tick, the Deployments not at rest get a pass (Kubernetes' requeue: a
        ``minReadySeconds`` or a progress deadline no change announces); a sweep passes
        them all and deletes the ReplicaSets whose Deployment is gone."""
        sweeping = controllers is not None
        replica_sets = [d for d in controllers if kind_of(d) is REPLICA_SET] if controllers is not None else None
        work = deployment_work(self.rt, deployments, sweeping, replica_sets, self.counts)
        return [Item(w.step, w.key, w.what, w.run, w.subject) for w in work]

    def controller_pass(self, doc: Doc, pods: list[Doc] | None) -> None:
        """``pods``: the controller's pods as the sweep read them; None (a pod of its
        namespace was over the budget, kept slim) and the pass reads them itself."""
        rt = self.rt
        self.counts["controllers"] += 1
        prefetched = (doc, pods) if pods is not None else None
        result = sync_controller(rt.store, rt.settings, doc.namespace, doc.name, rt.clock, prefetched, kind_of(doc))
        self.counts["created"] += result.created
        self.counts["deleted"] += result.deleted
        self.counts["invalid"] += int(result.invalid)

    def vm_key(self, doc: Doc) -> tuple[str, str]:
        """A VM is its zone and name: a pod's VM is the one in the zone it was made in,
        under the name its ``spec.nodeName`` records (else the name it would be made under)."""
        return vm_zone_of(doc) or self.rt.settings.zone, vm_name_of(doc, self.rt.settings.cluster)

    def vm_items(self, vms: list[InstanceInfo], pods: list[Doc]) -> list[Item]:
        rt = self.rt
        by_key = {(vm.zone, vm.name): vm for vm in vms}
        # Who holds each VM: the uids of the pods that hold our finalizer under its key.
        holders: dict[tuple[str, str], set[str]] = defaultdict(set)
        for doc in pods:
            if VM_FINALIZER in PodInfo.from_doc(doc).finalizers:
                holders[self.vm_key(doc)].add(uid_label(doc_uid(doc)))  # as the VM's label has it
        items = []
        for key, vm in sorted(by_key.items()):
            uid = vm.labels.get(UID_LABEL) or None
            if key in holders and (uid is None or uid in holders[key]):
                continue  # a VM from before uid labels is matched by its name alone
            items.append(Item("vms", f"{vm.zone}/{vm.name}", f"VM {vm.zone}/{vm.name}",
                              partial(self.delete_vm, vm, uid)))
        now = rt.clock()
        for doc in pods:
            if needs_pass(doc, by_key.get(self.vm_key(doc)), now):
                items.append(Item("pods", doc.path, f"Pod {doc.namespace}/{doc.name}",
                                  partial(self.pod_pass, doc),
                                  ("Pod", doc.namespace, doc.name, doc_uid(doc))))
        return items

    def delete_vm(self, vm: InstanceInfo, uid: str | None) -> None:
        provider = self.rt.provider
        try:
            if uid is None:
                provider.ensure_instance_deleted(vm.name, vm.zone)
            else:
                provider.ensure_instance_deleted(vm.name, vm.zone, owner_uid=uid)
        except NameConflictError as conflict:  # made again for a new pod since it was listed
            self.counts["vmsSkipped"] += 1
            log.info("VM not deleted: another owns it now", extra={"vm": vm.name, "zone": vm.zone, "error": str(conflict)})
            return
        self.counts["vmsDeleted"] += 1
        log.info("VM no pod holds deleted", extra={"vm": vm.name, "zone": vm.zone, "uid": uid})

    def pod_pass(self, doc: Doc) -> None:
        """Pod passes wait for a new VM to boot; here, one after another, they share one
        budget, so a sweep over many booting VMs still reaches controllers and services."""
        rt = self.rt
        if self.boot_deadline is None:
            self.boot_deadline = time.monotonic() + min(rt.settings.pod_start_timeout, BOOT_WAIT_BUDGET)
        wait = max(0.0, min(self.boot_deadline, self.deadline) - time.monotonic())
        self.counts["pods"] += 1
        sync_pod(rt.store, rt.provider, replace(rt.settings, pod_start_timeout=wait), doc.namespace, doc.name, rt.clock)

    def node_items(self) -> list[Item]:
        """Every tick, idle or not: the heartbeats not renewed for ``heartbeat_timeout``
        (one query; a cluster whose agents all report reads one document's worth)."""
        rt = self.rt
        if rt.settings.pod_status_url is None:
            return []  # no agents report to this installation: silence means nothing
        cutoff = rt.clock() - timedelta(seconds=rt.settings.heartbeat_timeout)
        ok, stale = self.read("read stale heartbeats", lambda: stale_heartbeats(rt.store, cutoff))
        if not ok:
            return []
        evict = True
        if len(stale) >= DISRUPTION_MINIMUM:
            counted, total = self.read("count heartbeats", lambda: count_heartbeats(rt.store))
            evict = counted and not disrupted(len(stale), total)
            if not evict:
                self.disruption = {"silent": len(stale), "of": total if counted else None}
                log.error("most pod agents are silent: pods are marked Unknown, none is evicted; check pod_status, "
                          "its IAM and the network", extra={"silent": len(stale), "of": total if counted else None})
        items = []
        for heartbeat in stale:
            uid = heartbeat.data.get("podUid")
            items.append(Item("nodes", heartbeat.path, f"Pod {heartbeat.namespace}/{heartbeat.name} (heartbeat)",
                              partial(self.node_check, heartbeat, evict),
                              ("Pod", heartbeat.namespace, heartbeat.name, uid if isinstance(uid, str) else "")))
        return items

    def node_check(self, heartbeat: Doc, evict: bool) -> None:
        rt = self.rt
        checked = check_heartbeat(rt.store, heartbeat, rt.settings, rt.clock(), evict)
        if not checked.written:
            return
        counter = {"unknown": "podsUnknown", "lost": "podsEvicted", "forget": "heartbeatsDeleted"}.get(checked.verdict)
        if counter is not None:
            self.counts[counter] += 1
        if checked.verdict == "lost":  # Failed now: its VM is released at once, not a tick later
            self.counts["pods"] += 1
            sync_pod(rt.store, rt.provider, replace(rt.settings, pod_start_timeout=0.0), heartbeat.namespace,
                     heartbeat.name, rt.clock)

    def orphan_items(self, pods: list[Doc], live: set[tuple[str, str, str, str]]) -> list[Item]:
        """Pods whose controller is gone: deleted (or marked, for their finalizers' owner)."""
        items = []
        for doc in pods:
            pod = PodInfo.from_doc(doc)
            ref = pod.controller_ref()
            if ref is None or ref.get("kind") not in OWNER_KINDS or pod.being_deleted:
                continue
            if (doc.namespace, ref.get("kind"), ref.get("name"), ref.get("uid")) in live:
                continue
            items.append(Item("orphans", doc.path, f"Pod {doc.namespace}/{doc.name}",
                              partial(self.collect_orphan, doc, pod, ref),
                              ("Pod", doc.namespace, doc.name, doc_uid(doc))))
        return items

    def collect_orphan(self, doc: Doc, pod: PodInfo, ref: dict[str, Any]) -> None:
        if self.owner_exists(doc.namespace, ref):
            return
        now = self.rt.clock()
        try:
            self.rt.store.commit([remove_pod(pod, now)], now)
        except StaleWrite:
            return  # changed since read: the next tick looks again
        self.counts["orphansDeleted"] += 1
        log.info("orphan pod deleted", extra={"object": f"Pod/{doc.namespace}/{doc.name}", "owner": ref.get("name")})

    def owner_exists(self, namespace: str, ref: dict[str, Any]) -> bool:
        """The controllers were read before the pods: one made in between is looked up."""
        name, kind = ref.get("name"), OWNER_KINDS.get(ref.get("kind"))
        if not isinstance(name, str) or not name or "/" in name or kind is None:
            return False
        doc = self.rt.store.get(kind.path(namespace, name))
        return doc is not None and controller_uid(doc.path, doc.create_time) == ref.get("uid")

    def service_items(self, balancers: Mapping[str, set[str | None]] | None) -> list[Item]:
        """Re-sync load-balanced services; delete load balancers no service holds: for each
        owner uid found under a name that no service of that name holds, that uid's
        resources (an old service's half-deleted ones go, a new one's of the same name
        stay); resources from before uids only when no service holds the name at all.
        The load balancers were listed before the services were read, so one made since
        for a new service is not in the list and cannot be taken for an orphan."""
        rt = self.rt
        ok, services = self.read("read services", lambda: rt.store.all_of_kind(SERVICES))
        if not ok:
            return []
        held: dict[str, set[str]] = defaultdict(set)
        items = []
        for doc in services:
            spec, meta, status = (doc.data.get(k) for k in ("spec", "metadata", "status"))
            wants = (isinstance(spec, dict) and (spec.get("type") == "LoadBalancer"
                                                 or spec.get("createExternalLoadBalancer") is True)) \
                or doc.data.get("createExternalLoadBalancer") is True
            holds = isinstance(meta, dict) and LB_FINALIZER in (meta.get("finalizers") or [])
            has_ip = isinstance(status, dict) and bool((status.get("loadBalancer") or {}).get("ingress"))
            if not (wants or holds or has_ip):
                continue
            for lb_name in held_load_balancer_names(doc):
                held[lb_name].add(doc_uid(doc))
            items.append(Item("services", doc.path, f"Service {doc.namespace}/{doc.name}",
                              partial(self.service_pass, doc),
                              ("Service", doc.namespace, doc.name, doc_uid(doc))))
        if balancers is None:
            return items
        for name, uids in sorted(balancers.items()):
            if name not in held and None in uids:
                uids = {None}  # deleted by name alone: every owner's resources under it go
            for uid in sorted(uids, key=lambda u: u or ""):
                if name in held and (uid is None or uid in held[name]):
                    continue
                key, what = (name, f"load balancer {name}") if uid is None else \
                    (f"{name}/{uid}", f"load balancer {name} of {uid}")
                shared = len(balancers[name]) > 1 or name in held
                items.append(Item("loadBalancers", key, what, partial(self.delete_load_balancer, name, uid, shared)))
        return items

    def service_pass(self, doc: Doc) -> None:
        rt = self.rt
        sync_service(rt.store, rt.provider, rt.settings, doc.namespace, doc.name, rt.clock, settle=False)
        self.counts["services"] += 1

    def delete_load_balancer(self, name: str, uid: str | None, shared: bool = False) -> None:
        """``shared``: other owners have resources under the name too, so a NameConflictError
        (raised after this owner's resources are deleted) is expected: they are deleted."""
        provider, region = self.rt.provider, self.rt.settings.region
        try:
            if uid is None:
                provider.ensure_load_balancer_deleted(name, region)
            else:
                provider.ensure_load_balancer_deleted(name, region, owner_uid=uid)
        except NameConflictError as conflict:
            # This owner's resources are gone; the rest under the name are another's and stay.
            self.counts["loadBalancersDeleted" if shared else "loadBalancersSkipped"] += 1
            log.info("load balancer deleted but for resources another owner holds",
                     extra={"loadBalancer": name, "uid": uid, "error": str(conflict)})
            return
        self.counts["loadBalancersDeleted"] += 1
        log.info("load balancer no service holds deleted", extra={"loadBalancer": name, "uid": uid})


OWNER_KINDS: dict[Any, ControllerKind] = {kind.kind: kind for kind in KINDS}


def kind_of(doc: Doc) -> ControllerKind:
    """The kind of a controller document, by its collection (replication controllers'
    when it is neither: only documents of these collections are read as controllers)."""
    collection = doc.path.split("/")[2] if doc.path.count("/") == 3 else None
    return next((kind for kind in KINDS if kind.collection == collection), REPLICATION_CONTROLLER)


def needs_pass(doc: Doc, vm: InstanceInfo | None, now: datetime) -> bool:
    """Does this pod's document disagree with its VM (or wait for one) so a pass must run?"""
    pod = PodInfo.from_doc(doc)
    raw = doc.data.get("status")
    status: dict[str, Any] = raw if isinstance(raw, dict) else {}
    holds = VM_FINALIZER in pod.finalizers
    if pod.being_deleted:  # unless its agent is still within its grace period
        return vm is None or vm.status in STOPPED or not holds or termination_step(doc.data, now) != "wait"
    if pod.phase in ("Failed", "Succeeded"):
        return holds  # its VM is to be released
    if pod.node_name is None:
        retry_at = status.get("nextAttemptTime")
        return not isinstance(retry_at, datetime) or retry_at <= now
    if vm is None or vm.status in STOPPED:
        return True
    if runs_agent(doc.data):
        # Its agent's reports say whether it runs; the pod runtime only pairs it with its
        # RUNNING VM (fingerprint, addresses), once.
        if vm.status != "RUNNING":
            return False
        return not same_data(status.get("vmFingerprint"), fingerprint.vm_term(vm.name)) or status.get("vmZone") != vm.zone
    if vm.status == "RUNNING" and pod.phase == "Running":
        # Running as it should, but its status must also say so in the idle tick's terms:
        # pods from before the fingerprint, or one garbled, get a pass that rewrites it.
        fingerprint_ok = same_data(status.get("vmFingerprint"), fingerprint.vm_term(vm.name))
        return not fingerprint_ok or status.get("vmZone") != vm.zone
    return (vm.status == "RUNNING") != (pod.phase == "Running")


def full_sweep_due(now: datetime, every_minutes: int) -> bool:
    """Every ``every_minutes`` minutes of the wall clock (1: every tick); no state kept."""
    return int(now.timestamp() // 60) % every_minutes == 0


def idle_verdict(
    vms: list[InstanceInfo] | None,
    controllers: list[Doc],
    held: list[AtRest | None],
    pods: tuple[int, int] | None,
) -> str | None:
    """Why the cluster is not idle, or None. ``held``: each controller's pods at rest;
    ``pods``: how many pods there are in all, and the fingerprint sum over the pods of
    the controllers' namespaces (None: not read yet, judge the rest)."""
    if vms is None:
        return "the VMs could not be listed"
    for doc, rest in zip(controllers, held, strict=True):
        if rest is None:
            return f"{kind_of(doc).kind} {doc.namespace}/{doc.name} is not at rest"
    waking = sorted(f"{vm.name} ({vm.status})" for vm in vms if vm.status != "RUNNING")
    if waking:
        return f"VMs not RUNNING: {', '.join(waking[:5])}"
    running = sum(rest.running for rest in held if rest is not None)
    if running != len(vms):
        return f"the controllers hold {running} running pods, and {len(vms)} VMs run"
    if pods is None:
        return None
    pods_in_all, pod_sum = pods
    kept = running + sum(rest.finished for rest in held if rest is not None)
    if pods_in_all != kept:
        return f"{pods_in_all} pods, and the controllers hold {kept} (pods with no controller, or on their way out)"
    if pod_sum != fingerprint.total(vm.name for vm in vms):
        return f"{fingerprint.count_of(pod_sum)} pods Running on VMs and {len(vms)} RUNNING VMs do not pair up"
    return None


def resync_all(rt: Runtime, full: bool | None = None, on_step: Hook | None = None) -> dict[str, Any]:
    """One tick. ``on_step`` is called with "listed" (the VMs and load balancers listed,
    no document read yet) and "read" (everything read, no work done yet)."""
    return Sweep(rt, on_step).run(full)
