"""The periodic sweep (Cloud Scheduler, every minute): repair what events missed.

Every controller of every namespace gets a sync pass, pods whose controlling owner
no longer exists (its delete event was lost) are deleted, as Kubernetes' garbage
collector does, and every load-balanced service is re-synced. One object failing
does not stop the others. The Compute client is built only if a service needs it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from functions.handlers import RETRYABLE
from functions.pod_policy import PodInfo
from functions.replication import KIND, controller_uid, remove_pod, sync_controller
from functions.runtime import Runtime
from functions.store import CONTROLLERS, PODS, SERVICES, StaleWrite

log = logging.getLogger("firecontrol.resync")


def resync_all(rt: Runtime) -> dict[str, Any]:
    started = time.monotonic()
    ops_before = rt.store.ops.snapshot()
    summary: dict[str, Any] = {
        "controllers": 0, "created": 0, "deleted": 0, "invalid": 0,
        "orphansDeleted": 0, "services": 0, "errors": [],
    }
    controllers = rt.store.all_of_kind(CONTROLLERS)
    live: set[tuple[str, str, str]] = set()
    for doc in controllers:
        live.add((doc.namespace, doc.name, controller_uid(doc.path, doc.create_time)))
        summary["controllers"] += 1
        try:
            result = sync_controller(rt.store, rt.settings, doc.namespace, doc.name, rt.clock)
        except RETRYABLE as error:
            summary["errors"].append(f"{KIND} {doc.namespace}/{doc.name}: {error}")
            continue
        summary["created"] += result.created
        summary["deleted"] += result.deleted
        summary["invalid"] += int(result.invalid)
    summary["orphansDeleted"] = _collect_orphans(rt, live, summary["errors"])
    summary["services"] = _sync_services(rt, summary["errors"])
    ops_after = rt.store.ops.snapshot()
    summary["firestore"] = {k: ops_after[k] - ops_before[k] for k in ops_after}
    summary["seconds"] = round(time.monotonic() - started, 3)
    log.info("resync done", extra={"summary": {k: v for k, v in summary.items() if k != "errors"}})
    return summary


def _sync_services(rt: Runtime, errors: list[str]) -> int:
    """Re-sync every service that has, or wants, a load balancer: hosts may have moved."""
    from functions.services import FINALIZER, sync_service

    synced = 0
    for doc in rt.store.all_of_kind(SERVICES):
        spec, meta = doc.data.get("spec"), doc.data.get("metadata")
        wants = isinstance(spec, dict) and (
            spec.get("type") == "LoadBalancer" or spec.get("createExternalLoadBalancer") is True
        )
        wants = wants or doc.data.get("createExternalLoadBalancer") is True
        holds = isinstance(meta, dict) and FINALIZER in (meta.get("finalizers") or [])
        if not (wants or holds):
            continue
        try:
            sync_service(rt.store, rt.provider, rt.settings, doc.namespace, doc.name, rt.clock)
        except RETRYABLE as error:
            errors.append(f"Service {doc.namespace}/{doc.name}: {error}")
            continue
        synced += 1
    return synced


def _collect_orphans(rt: Runtime, live: set[tuple[str, str, str]], errors: list[str]) -> int:
    """Delete pods whose controller reference names a controller that is gone."""
    deleted = 0
    for doc in rt.store.all_of_kind(PODS):
        pod = PodInfo.from_doc(doc)
        ref = pod.controller_ref()
        if ref is None or ref.get("kind") != KIND or pod.being_deleted:
            continue
        if (doc.namespace, ref.get("name"), ref.get("uid")) in live:
            continue
        now = rt.clock()
        try:
            rt.store.commit([remove_pod(pod, now)], now)
        except StaleWrite:
            continue  # changed since read: the next tick looks again
        except RETRYABLE as error:
            errors.append(f"Pod {doc.namespace}/{doc.name}: {error}")
            continue
        deleted += 1
        log.info("orphan pod deleted", extra={"object": f"Pod/{doc.namespace}/{doc.name}", "owner": ref.get("name")})
    return deleted
