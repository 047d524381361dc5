"""The periodic sweep (Cloud Scheduler, every minute): repair what events missed.

In this order, each step reading what the one before may have changed:
1. the cluster's VMs (one paginated aggregatedList) and load balancers, listed
   *before* the documents are read, so one made after the read of its owner cannot
   look ownerless;
2. every controller, then every pod (so a pass over these pods that raced another
   pass fails its guarded commit and re-reads), then every service;
3. pods whose controlling owner is gone (not among the controllers read, nor found
   when looked up) are deleted (Kubernetes' garbage collector);
4. VMs no pod holds are deleted; pods whose VM died, vanished, or is not made yet
   get a pod pass (a dead VM's pod is marked Failed, and its controller replaces it);
5. every controller gets a sync pass (with the pods already read: no more reads when
   nothing changed), every load-balanced service is re-synced, and load balancers no
   service holds are deleted.

Most ticks find nothing to repair, and reading every pod to learn that costs a read
per pod. So unless a full sweep is due (every ``resync_full_every`` minutes, or asked
for), a tick first asks whether the cluster is idle, from what it reads anyway (the
VMs, the controllers) and a few aggregations: every VM RUNNING; every controller at
rest (its last pass saw this spec, every active pod ready, nothing failed); as many
pods in all as the controllers hold, none of them marked for deletion; and the pods
Running on VMs exactly the VMs that run (``functions/fingerprint.py``). Idle, it skips steps 2 to 4 and the controller
passes; anything else, and it sweeps in full. Services are re-synced either way.

One object failing does not stop the others. Only resources named and labelled for
this cluster are ever deleted.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc

from functions import fingerprint
from functions.cloudprovider import InstanceInfo
from functions.handlers import RETRYABLE
from functions.pod_policy import PodInfo
from functions.pods import FINALIZER as VM_FINALIZER
from functions.pods import STOPPED, same_data, sync_pod, vm_zone_of
from functions.replication import (
    KIND,
    AtRest,
    controller_uid,
    pods_at_rest,
    remove_pod,
    sync_controller,
)
from functions.runtime import Runtime
from functions.services import FINALIZER as LB_FINALIZER
from functions.services import load_balancer_name, sync_service
from functions.store import CONTROLLERS, PODS, SERVICES, Doc, StaleWrite, doc_path
from functions.vm_spec import instance_name

log = logging.getLogger("firecontrol.resync")
# An aggregation refused (an index missing, say) costs this tick its shortcut, no more.
UNSUMMABLE: tuple[type[Exception], ...] = (*RETRYABLE, gexc.GoogleAPICallError, ValueError)
BOOT_WAIT_BUDGET = 60.0  # seconds all pod passes of one sweep may wait for VMs to boot


class Sweep:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.errors: list[str] = []
        self.counts: dict[str, int] = defaultdict(int)

    def attempt(self, what: str, call: Any) -> tuple[bool, Any]:
        """(True, result), or (False, None) with the error noted: the sweep goes on."""
        try:
            return True, call()
        except RETRYABLE as error:
            self.errors.append(f"{what}: {error}")
            return False, None
        except Exception as error:  # one object's bug or bad data must not stop the sweep
            log.exception(f"resync: {what} failed", extra={"object": what})
            self.errors.append(f"{what}: {type(error).__name__}: {error}")
            return False, None

    def run(self, full: bool | None = None) -> dict[str, Any]:
        """``full``: sweep in full (True), only if the cluster is not idle (False), or
        in full when the clock says one is due (None, the Scheduler's tick)."""
        rt = self.rt
        started = time.monotonic()
        ops_before = rt.store.ops.snapshot()
        _, vms = self.attempt("list instances", rt.provider.list_instances)
        _, balancers = self.attempt("list load balancers", lambda: rt.provider.list_load_balancers(rt.settings.region))
        controllers = rt.store.all_of_kind(CONTROLLERS)
        if full is None:
            full = full_sweep_due(rt.clock(), rt.settings.resync_full_every)
        because = "a full sweep was due or asked for" if full else self.busy(vms, controllers)
        if because is not None:
            self.sweep(vms, controllers)
        self.sync_services(rt.store.all_of_kind(SERVICES), balancers)
        summary: dict[str, Any] = {"mode": "idle" if because is None else "full"}
        if because is not None:
            summary["fullBecause"] = because
        summary.update({
            key: self.counts[key]
            for key in ("controllers", "created", "deleted", "invalid", "orphansDeleted", "pods",
                        "vmsDeleted", "services", "loadBalancersDeleted")
        })
        ops_after = rt.store.ops.snapshot()
        summary["firestore"] = {k: ops_after[k] - ops_before[k] for k in ops_after}
        summary["errors"] = self.errors
        summary["seconds"] = round(time.monotonic() - started, 3)
        log.info("resync done", extra={"summary": {k: v for k, v in summary.items() if k != "errors"}})
        return summary

    def busy(self, vms: list[InstanceInfo] | None, controllers: list[Doc]) -> str | None:
        """Why this tick must sweep in full; None when the cluster is idle."""
        rt = self.rt
        held = [pods_at_rest(doc, rt.settings) for doc in controllers]
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

    def sweep(self, vms: list[InstanceInfo] | None, controllers: list[Doc]) -> None:
        """Steps 2 to 5 but the services. The controllers were read before the pods: a
        pass that changed pods since also changed its controller, so the guarded commit
        of a pass over these pods fails and re-reads."""
        rt = self.rt
        pods = rt.store.all_of_kind(PODS)
        live = {(d.namespace, d.name, controller_uid(d.path, d.create_time)) for d in controllers}
        collected = self.collect_orphan_pods(pods, live)
        if vms is not None:
            self.reconcile_vms(vms, [p for p in pods if p.path not in collected])
        by_namespace: dict[str, list[Doc]] = defaultdict(list)
        for pod in pods:
            by_namespace[pod.namespace].append(pod)
        for doc in controllers:
            _, result = self.attempt(
                f"{KIND} {doc.namespace}/{doc.name}",
                lambda doc=doc: sync_controller(
                    rt.store, rt.settings, doc.namespace, doc.name, rt.clock, (doc, by_namespace[doc.namespace])
                ),
            )
            self.counts["controllers"] += 1
            if result is not None:
                self.counts["created"] += result.created
                self.counts["deleted"] += result.deleted
                self.counts["invalid"] += int(result.invalid)

    def reconcile_vms(self, vms: list[InstanceInfo], pods: list[Doc]) -> None:
        rt = self.rt
        # A VM is its zone and name: a pod's VM is the one in the zone it was made in.
        by_key = {(vm.zone, vm.name): vm for vm in vms}

        def key(doc: Doc) -> tuple[str, str]:
            return vm_zone_of(doc) or rt.settings.zone, instance_name(rt.settings.cluster, doc.namespace, doc.name)

        holders = {key(doc) for doc in pods if VM_FINALIZER in PodInfo.from_doc(doc).finalizers}
        for zone, name in sorted(set(by_key) - holders):
            if self.attempt(f"VM {zone}/{name}",
                            lambda name=name, zone=zone: rt.provider.ensure_instance_deleted(name, zone))[0]:
                self.counts["vmsDeleted"] += 1
                log.info("VM no pod holds deleted", extra={"vm": name, "zone": zone})
        now = rt.clock()
        # Pod passes wait for a new VM to boot; here, one after another, they share one
        # budget, so a sweep over many booting VMs still reaches controllers and services.
        deadline = time.monotonic() + min(rt.settings.pod_start_timeout, BOOT_WAIT_BUDGET)
        for doc in pods:
            vm = by_key.get(key(doc))
            if needs_pass(doc, vm, now):
                self.counts["pods"] += 1
                settings = replace(rt.settings, pod_start_timeout=max(0.0, deadline - time.monotonic()))
                self.attempt(
                    f"Pod {doc.namespace}/{doc.name}",
                    lambda doc=doc, settings=settings: sync_pod(
                        rt.store, rt.provider, settings, doc.namespace, doc.name, rt.clock),
                )

    def collect_orphan_pods(self, pods: list[Doc], live: set[tuple[str, str, str]]) -> set[str]:
        """Delete (or mark) pods whose controller is gone; the paths it did."""
        collected: set[str] = set()
        for doc in pods:
            pod = PodInfo.from_doc(doc)
            ref = pod.controller_ref()
            if ref is None or ref.get("kind") != KIND or pod.being_deleted:
                continue
            if (doc.namespace, ref.get("name"), ref.get("uid")) in live or self.owner_exists(doc.namespace, ref):
                continue
            now = self.rt.clock()
            try:
                self.rt.store.commit([remove_pod(pod, now)], now)
            except StaleWrite:
                continue  # changed since read: the next tick looks again
            except RETRYABLE as error:
                self.errors.append(f"Pod {doc.namespace}/{doc.name}: {error}")
                continue
            self.counts["orphansDeleted"] += 1
            collected.add(doc.path)
            log.info("orphan pod deleted", extra={"object": f"Pod/{doc.namespace}/{doc.name}", "owner": ref.get("name")})
        return collected

    def owner_exists(self, namespace: str, ref: dict[str, Any]) -> bool:
        """The controllers were read before the pods: one made in between is looked up."""
        name = ref.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            return False
        doc = self.rt.store.get(doc_path(namespace, CONTROLLERS, name))
        return doc is not None and controller_uid(doc.path, doc.create_time) == ref.get("uid")

    def sync_services(self, services: list[Doc], balancers: set[str] | None) -> None:
        """Re-sync load-balanced services; delete load balancers no service holds. The
        load balancers were listed before the services were read, so one made since
        for a new service is not in the list and cannot be taken for an orphan."""
        rt = self.rt
        held: set[str] = set()
        for doc in services:
            spec, meta, status = (doc.data.get(k) for k in ("spec", "metadata", "status"))
            wants = (isinstance(spec, dict) and (spec.get("type") == "LoadBalancer"
                                                 or spec.get("createExternalLoadBalancer") is True)) \
                or doc.data.get("createExternalLoadBalancer") is True
            holds = isinstance(meta, dict) and LB_FINALIZER in (meta.get("finalizers") or [])
            has_ip = isinstance(status, dict) and bool((status.get("loadBalancer") or {}).get("ingress"))
            if not (wants or holds or has_ip):
                continue
            held.add(load_balancer_name(doc.namespace, doc.name))
            if self.attempt(
                f"Service {doc.namespace}/{doc.name}",
                lambda doc=doc: sync_service(rt.store, rt.provider, rt.settings, doc.namespace, doc.name, rt.clock,
                                             settle=False),
            )[0]:
                self.counts["services"] += 1
        for name in sorted((balancers or set()) - held):
            if self.attempt(
                f"load balancer {name}",
                lambda name=name: rt.provider.ensure_load_balancer_deleted(name, rt.settings.region),
            )[0]:
                self.counts["loadBalancersDeleted"] += 1
                log.info("load balancer no service holds deleted", extra={"loadBalancer": name})


def needs_pass(doc: Doc, vm: InstanceInfo | None, now: datetime) -> bool:
    """Does this pod's document disagree with its VM (or wait for one) so a pass must run?"""
    pod = PodInfo.from_doc(doc)
    raw = doc.data.get("status")
    status: dict[str, Any] = raw if isinstance(raw, dict) else {}
    holds = VM_FINALIZER in pod.finalizers
    if pod.being_deleted:
        return True
    if pod.phase in ("Failed", "Succeeded"):
        return holds  # its VM is to be released
    if pod.node_name is None:
        retry_at = status.get("nextAttemptTime")
        return not isinstance(retry_at, datetime) or retry_at <= now
    if vm is None or vm.status in STOPPED:
        return True
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
            return f"{KIND} {doc.namespace}/{doc.name} is not at rest"
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


def resync_all(rt: Runtime, full: bool | None = None) -> dict[str, Any]:
    return Sweep(rt).run(full)
