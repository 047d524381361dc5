"""A Deployment's status and conditions, from its ReplicaSets' counts: Kubernetes'
``calculateStatus``, ``syncRolloutStatus`` and ``progress.go``. Written into the view;
no I/O here."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from functions.controllers.deployment_conditions import (
    AVAILABLE,
    MINIMUM_AVAILABLE,
    MINIMUM_UNAVAILABLE,
    NEW_RS_AVAILABLE,
    PAUSED,
    PROGRESSING,
    REPLICA_FAILURE,
    REPLICA_SET_UPDATED,
    RESUMED,
    TIMED_OUT,
    condition,
    get_condition,
    remove_condition,
)
from functions.controllers.deployment_view import RS, DeploymentView, as_int


def check_paused_conditions(v: DeploymentView) -> None:
    if not v.spec.has_progress_deadline:
        return
    cond = get_condition(v.conditions, PROGRESSING)
    if cond is not None and cond.get("reason") == TIMED_OUT:
        return  # a reported lack of progress is not overwritten by a pause
    paused_exists = cond is not None and cond.get("reason") == PAUSED
    if v.spec.paused and not paused_exists:
        v.set_condition(condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", v.now))
    elif not v.spec.paused and paused_exists:
        v.set_condition(condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", v.now))


def complete(v: DeploymentView, status: dict[str, Any]) -> bool:
    """``DeploymentComplete``: every desired replica updated and available, no old one."""
    replicas = v.spec.replicas
    return (as_int(status.get("updatedReplicas")) == replicas and as_int(status.get("replicas")) == replicas
            and as_int(status.get("availableReplicas")) == replicas
            and as_int(status.get("observedGeneration")) >= v.generation)


def calculate_status(v: DeploymentView, sets: list[RS | None], new: RS | None) -> None:
    live = [rs for rs in sets if rs is not None]
    available = sum(rs.available for rs in live)  # reported as Kubernetes does
    total = sum(rs.replicas for rs in live)
    counted = sum(rs.counted_available for rs in live)  # decided on: not pods a pending scale-down removes
    v.status.update({
        "observedGeneration": v.generation,
        "replicas": sum(rs.status_replicas for rs in live),
        "updatedReplicas": new.status_replicas if new is not None else 0,
        "readyReplicas": sum(rs.ready for rs in live),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
        "terminatingReplicas": sum(rs.terminating for rs in live),
        "specHash": v.digest,
    })
    if counted >= v.spec.replicas - v.spec.max_unavailable():
        v.set_condition(condition(AVAILABLE, "True", MINIMUM_AVAILABLE, "Deployment has minimum availability.", v.now))
    else:
        v.set_condition(condition(AVAILABLE, "False", MINIMUM_UNAVAILABLE,
                                  "Deployment does not have minimum availability.", v.now))


def sync_status(v: DeploymentView, sets: list[RS | None], new: RS | None, progress: bool) -> None:
    """``syncDeploymentStatus``, or with ``progress`` ``syncRolloutStatus``."""
    calculate_status(v, sets, new)
    if not progress:
        return
    current = get_condition(v.conditions, PROGRESSING)
    if not v.spec.has_progress_deadline:
        v.status["conditions"] = remove_condition(v.conditions, PROGRESSING)
    settled = (as_int(v.status.get("replicas")) == as_int(v.status.get("updatedReplicas"))
               and current is not None and current.get("reason") == NEW_RS_AVAILABLE)
    subject = f'ReplicaSet "{new.name}"' if new is not None else f'Deployment "{v.name}"'
    if v.spec.has_progress_deadline and not settled:
        if complete(v, v.status):
            v.set_condition(condition(PROGRESSING, "True", NEW_RS_AVAILABLE, f"{subject} has successfully progressed.", v.now))
        elif progressing(v):
            cond = condition(PROGRESSING, "True", REPLICA_SET_UPDATED, f"{subject} is progressing.", v.now)
            existing = get_condition(v.conditions, PROGRESSING)
            if existing is not None:
                if existing.get("status") == "True":
                    cond["lastTransitionTime"] = existing.get("lastTransitionTime")
                v.status["conditions"] = remove_condition(v.conditions, PROGRESSING)
            v.set_condition(cond)
        elif timed_out(v):
            v.set_condition(condition(PROGRESSING, "False", TIMED_OUT, f"{subject} has timed out progressing.", v.now))
    failure = replica_failure(sets, new)
    if failure is not None:
        v.set_condition(failure)
    else:
        v.status["conditions"] = remove_condition(v.conditions, REPLICA_FAILURE)


def progressing(v: DeploymentView) -> bool:
    """``DeploymentProgressing``: new pods up, old pods down, more ready or available."""
    old, new = v.old_status, v.status
    old_old = as_int(old.get("replicas")) - as_int(old.get("updatedReplicas"))
    new_old = as_int(new.get("replicas")) - as_int(new.get("updatedReplicas"))
    return (as_int(new.get("updatedReplicas")) > as_int(old.get("updatedReplicas")) or new_old < old_old
            or as_int(new.get("readyReplicas")) > as_int(old.get("readyReplicas"))
            or as_int(new.get("availableReplicas")) > as_int(old.get("availableReplicas")))


def timed_out(v: DeploymentView) -> bool:
    """``DeploymentTimedOut``: no progress reported for ``progressDeadlineSeconds``."""
    cond = get_condition(v.conditions, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = cond.get("lastUpdateTime")
    if not isinstance(since, datetime):
        return False
    return since + timedelta(seconds=v.spec.progress_deadline_seconds) < v.now


def replica_failure(sets: list[RS | None], new: RS | None) -> dict[str, Any] | None:
    """The new ReplicaSet's ReplicaFailure, else an old one's, as the Deployment's."""
    for rs in [new, *(s for s in sets if s is not new)]:
        if rs is not None and rs.failure is not None:
            since = rs.failure.get("lastTransitionTime")
            return {"type": REPLICA_FAILURE, "status": rs.failure.get("status", "True"),
                    "lastUpdateTime": since, "lastTransitionTime": since,
                    "reason": rs.failure.get("reason"), "message": rs.failure.get("message")}
    return None
