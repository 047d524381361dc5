"""What a Deployment's pass does to its ReplicaSets, per strategy: Kubernetes'
``sync.go`` (the new ReplicaSet, proportional scaling, history cleanup), ``rolling.go``
and ``recreate.go``. Each step is a decision over counts, made on the view; no I/O here.
"""

from __future__ import annotations

import logging
from functools import cmp_to_key
from typing import Any

from functions.api.deployment import API_VERSION, DESIRED_REPLICAS, KIND, MAX_REPLICAS, REVISION
from functions.api.podtemplatehash import (
    HASH_LABEL,
    equal_ignore_hash,
    pod_template_hash,
    with_hash,
)
from functions.controllers.deployment_conditions import (
    FOUND_NEW_RS,
    NEW_REPLICA_SET,
    PROGRESSING,
    condition,
    get_condition,
)
from functions.controllers.deployment_status import complete, sync_status
from functions.controllers.deployment_view import (
    RS,
    DeploymentView,
    active,
    by_creation,
    by_revision,
    by_size,
    owner_ref,
)
from functions.logs import ref_fields
from functions.store import REPLICA_SETS, doc_path

log = logging.getLogger("firecontrol.deployments")

RS_KIND = "ReplicaSet"
TERMINAL_PHASES = frozenset({"Failed", "Succeeded"})


# -- the new ReplicaSet (getAllReplicaSetsAndSyncRevision)


def sync_revision(v: DeploymentView) -> tuple[RS | None, list[RS]]:
    """The existing new ReplicaSet's annotations and minReadySeconds brought up to date,
    and its revision copied to the Deployment; no ReplicaSet is made here."""
    new = v.find_new()
    old = v.old_sets(new)
    if new is None:
        return None, old
    v.set_new_rs_annotations(new, v.new_revision(old), exists=True)
    new.min_ready_seconds = v.spec.min_ready_seconds
    v.set_revision(new.annotations.get(REVISION, ""))
    if v.spec.has_progress_deadline and get_condition(v.conditions, PROGRESSING) is None:
        message = f'Found new replica set "{new.name}"'
        v.set_condition(condition(PROGRESSING, "True", FOUND_NEW_RS, message, v.now))
    return new, old


def create_new(v: DeploymentView, old: list[RS]) -> RS | None:
    """The new ReplicaSet, ``{deployment}-{hash}``, sized by ``NewRSNewReplicas``; a
    name held by another template raises ``collisionCount`` (the next pass tries the
    next name) and nothing else happens in this pass."""
    template = v.doc.data["spec"]["template"]
    hash_ = pod_template_hash(template, v.collision_count)
    name = f"{v.name}-{hash_}"
    taken = next((rs for rs in v.all_sets if rs.name == name), None)
    if taken is not None:
        if taken.controller_uid() == v.uid and equal_ignore_hash(taken.template, template):
            return taken  # ours after all (e.g. read just as it was released)
        v.status["collisionCount"] = (v.collision_count or 0) + 1
        v.collision = True
        log.info("hash collision: raising collisionCount",
                 extra=ref_fields(KIND, v.namespace, v.name, replica_set=name,
                                  collision_count=v.status["collisionCount"]))
        return None
    path = doc_path(v.namespace, REPLICA_SETS, name)
    selector = v.spec.label_selector.to_doc()
    selector["matchLabels"] = {**selector.get("matchLabels", {}), HASH_LABEL: hash_}
    rs_template = with_hash(template, hash_)
    rs = RS(path=path, name=name, uid="", created=v.now, replicas=0, annotations={},
            min_ready_seconds=v.spec.min_ready_seconds, template=rs_template,
            labels=dict(rs_template["metadata"]["labels"]), owner_references=[owner_ref(v.name, v.uid)])
    rs.replicas = v.new_rs_new_replicas([*old, rs], rs)
    v.set_new_rs_annotations(rs, v.new_revision(old), exists=False)
    rs.selector = selector
    v.creates.append(rs)
    v.sets.append(rs)
    if rs.replicas > 0:
        v.events.append(v.event("ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {rs.replicas}"))
    v.set_revision(rs.annotations[REVISION])
    if v.spec.has_progress_deadline:
        v.set_condition(condition(PROGRESSING, "True", NEW_REPLICA_SET, f'Created new replica set "{name}"', v.now))
    return rs


def rs_document(v: DeploymentView, rs: RS) -> dict[str, Any]:
    """The document of a ReplicaSet this pass creates."""
    metadata: dict[str, Any] = {
        "name": rs.name, "namespace": v.namespace, "labels": rs.labels,
        "annotations": dict(rs.annotations), "ownerReferences": rs.owner_references,
        "creationTimestamp": v.now,
    }
    return {
        "apiVersion": API_VERSION, "kind": RS_KIND, "metadata": metadata,
        "spec": {"replicas": rs.replicas, "minReadySeconds": rs.min_ready_seconds,
                 "selector": rs.selector, "template": rs.template},
    }


# -- scaling


def scale_rs(v: DeploymentView, rs: RS, size: int, operation: str | None = None) -> bool:
    """``scaleReplicaSet``: the size and the replicas annotations; an event if the size moved."""
    size_changed = rs.replicas != size
    desired, most = str(v.spec.replicas), str(v.spec.replicas + v.spec.max_surge())
    if size_changed or rs.annotations.get(DESIRED_REPLICAS) != desired or rs.annotations.get(MAX_REPLICAS) != most:
        old_size = rs.replicas
        rs.replicas = size
        v.set_replicas_annotations(rs)
        if size_changed:
            operation = operation or ("up" if size > old_size else "down")
            v.scaled.append(f"{rs.name} from {old_size} to {size}")
            v.events.append(v.event(
                "ScalingReplicaSet", f"Scaled {operation} replica set {rs.name} from {old_size} to {size}"
            ))
    return size_changed


def is_scaling_event(v: DeploymentView, new: RS | None, old: list[RS]) -> bool:
    for rs in active([*old, new]):
        desired = rs.annotations.get(DESIRED_REPLICAS)
        if desired is not None and desired.lstrip("-").isdigit() and int(desired) != v.spec.replicas:
            return True
    return False


def scale(v: DeploymentView, new: RS | None, old: list[RS]) -> None:
    """Proportional scaling, for a scaling event or a paused Deployment."""
    latest = find_active_or_latest(new, old)
    if latest is not None:
        if latest.replicas != v.spec.replicas:
            scale_rs(v, latest, v.spec.replicas)
        return
    if v.is_saturated(new):
        for rs in active(old):
            scale_rs(v, rs, 0)
        return
    if not v.spec.rolling:
        return
    sets = active([*old, new])
    allowed = v.spec.replicas + v.spec.max_surge() if v.spec.replicas > 0 else 0
    to_add = allowed - sum(rs.replicas for rs in sets)
    operation = None
    if to_add > 0:
        sets.sort(key=cmp_to_key(by_size(newer_first=True)))
        operation = "up"
    elif to_add < 0:
        sets.sort(key=cmp_to_key(by_size(newer_first=False)))
        operation = "down"
    added = 0
    sizes: dict[str, int] = {}
    for rs in sets:
        if to_add != 0:
            share = proportion(v, rs, to_add, added)
            sizes[rs.name] = rs.replicas + share
            added += share
        else:
            sizes[rs.name] = rs.replicas
    for index, rs in enumerate(sets):
        if index == 0 and to_add != 0:
            sizes[rs.name] = max(0, sizes[rs.name] + to_add - added)  # leftovers to the largest
        scale_rs(v, rs, sizes[rs.name], operation)


def find_active_or_latest(new: RS | None, old: list[RS]) -> RS | None:
    if new is None and not old:
        return None
    newest_first = sorted(old, key=cmp_to_key(by_creation), reverse=True)
    live = active([*newest_first, new])
    if not live:
        return new if new is not None else newest_first[0]
    return live[0] if len(live) == 1 else None


def proportion(v: DeploymentView, rs: RS, to_add: int, added: int) -> int:
    """``GetProportion``."""
    if rs.replicas == 0 or to_add == 0 or to_add == added:
        return 0
    share = fraction(v, rs)
    allowed = to_add - added
    return min(share, allowed) if to_add > 0 else max(share, allowed)


def fraction(v: DeploymentView, rs: RS) -> int:
    """``getReplicaSetFraction``: this ReplicaSet's share of the new size."""
    if v.spec.replicas == 0:
        return -rs.replicas
    total = v.spec.replicas + v.spec.max_surge()
    annotated_text = rs.annotations.get(MAX_REPLICAS, "")
    annotated = int(annotated_text) if annotated_text.isdigit() else v.old_status_int("replicas")
    if annotated <= 0:
        return 0
    return _round(rs.replicas * total / annotated) - rs.replicas


def _round(value: float) -> int:
    """Go's ``math.Round``: halves away from zero."""
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


# -- sync (paused, or a scaling event)


def sync(v: DeploymentView, new: RS | None, old: list[RS]) -> None:
    scale(v, new, old)
    if v.spec.paused:
        cleanup(v, old)
    sync_status(v, [*old, new], new, progress=False)


# -- RollingUpdate


def rollout_rolling(v: DeploymentView, new: RS | None, old: list[RS]) -> None:
    if new is None:
        new = create_new(v, old)
        if new is None:
            return  # a collision: only collisionCount is written, the next pass goes on
    all_sets: list[RS | None] = [*old, new]
    if reconcile_new(v, all_sets, new) or reconcile_old(v, all_sets, active(old), new):
        sync_status(v, all_sets, new, progress=True)
        return
    if complete(v, v.old_status):
        cleanup(v, old)
    sync_status(v, all_sets, new, progress=True)


def reconcile_new(v: DeploymentView, all_sets: list[RS | None], new: RS) -> bool:
    if new.replicas == v.spec.replicas:
        return False
    if new.replicas > v.spec.replicas:
        return scale_rs(v, new, v.spec.replicas)
    return scale_rs(v, new, v.new_rs_new_replicas([rs for rs in all_sets if rs is not None], new))


def reconcile_old(v: DeploymentView, all_sets: list[RS | None], old: list[RS], new: RS) -> bool:
    if sum(rs.replicas for rs in old) == 0:
        return False
    all_pods = sum(rs.replicas for rs in all_sets if rs is not None)
    min_available = v.spec.replicas - v.spec.max_unavailable()
    new_unavailable = new.replicas - new.counted_available
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    cleaned = cleanup_unhealthy(v, old, max_scaled_down)
    scaled_down = scale_down_old_rolling(v, [*old, new], old)
    return cleaned + scaled_down > 0


def cleanup_unhealthy(v: DeploymentView, old: list[RS], max_cleanup: int) -> int:
    """Old ReplicaSets' unavailable pods go first: they cost no availability."""
    total = 0
    for rs in sorted(old, key=cmp_to_key(by_creation)):
        if total >= max_cleanup:
            break
        if rs.replicas <= rs.available:
            continue  # none unavailable (or more available than wanted: a scale-down is pending)
        count = min(max_cleanup - total, rs.replicas - rs.available)
        scale_rs(v, rs, rs.replicas - count)
        total += count
    return total


def scale_down_old_rolling(v: DeploymentView, all_sets: list[RS], old: list[RS]) -> int:
    min_available = v.spec.replicas - v.spec.max_unavailable()
    available = sum(rs.counted_available for rs in all_sets)  # a pending scale-down counts as done
    if available <= min_available:
        return 0
    total, goal = 0, available - min_available
    for rs in sorted(old, key=cmp_to_key(by_creation)):
        if total >= goal:
            break
        if rs.replicas == 0:
            continue
        count = min(rs.replicas, goal - total)
        scale_rs(v, rs, rs.replicas - count)
        total += count
    return total


# -- Recreate


def rollout_recreate(v: DeploymentView, new: RS | None, old: list[RS]) -> None:
    scaled = False
    for rs in active(old):
        scaled = scale_rs(v, rs, 0) or scaled
    if scaled or old_pods_running(v, old):
        sync_status(v, [*old, new], new, progress=True)
        return
    if new is None:
        new = create_new(v, old)
        if new is None:
            return
    scale_rs(v, new, v.spec.replicas)
    if complete(v, v.old_status):
        cleanup(v, old)
    sync_status(v, [*old, new], new, progress=True)


def old_pods_running(v: DeploymentView, old: list[RS]) -> bool:
    """Any old pod still there: counted by an old ReplicaSet (running or terminating),
    one its pass has not yet caught up with, or a pod document an old one owns that has
    not finished (a Failed or Succeeded pod, kept for inspection, runs nothing)."""
    if any(rs.status_replicas > 0 or rs.terminating > 0 or not rs.observed for rs in old):
        return True
    old_uids = {rs.uid for rs in old}
    return any((p.controller_ref() or {}).get("uid") in old_uids and p.phase not in TERMINAL_PHASES
               for p in v.pods)


# -- cleanupDeployment


def cleanup(v: DeploymentView, old: list[RS]) -> None:
    if not v.spec.has_history_limit:
        return
    cleanable = [rs for rs in old if not rs.being_deleted and not rs.delete and rs.doc is not None]
    diff = len(cleanable) - v.spec.revision_history_limit
    if diff <= 0:
        return
    for rs in sorted(cleanable, key=cmp_to_key(by_revision))[:diff]:
        if rs.status_replicas != 0 or rs.replicas != 0 or not rs.observed or rs.being_deleted:
            continue
        rs.delete = True
        log.info("deleting an old replica set", extra=ref_fields(KIND, v.namespace, v.name, replica_set=rs.name))
