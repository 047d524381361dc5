"""Graceful termination of a pod whose VM runs an agent (docs/agent-protocol.md §5).

Kubernetes gives a deleted pod its grace period: the endpoints drop it, the kubelet
runs ``preStop`` and sends SIGTERM, and the pod goes once its containers exited or
the period ran out. Here the pod runtime takes the VM out of its target pools, sets
``fc-terminate`` in its metadata and records ``status.terminationStarted``; the VM is
deleted when the agent reports every container terminated, or when the grace period
plus ``SLACK`` has passed (an agent that never answers cannot hold a VM for ever).

``termination_step`` is the pure decision, read leniently from the stored document:
the pod runtime acts on it, the pod trigger and resync use it to know when a pass is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from functions.pod_policy import as_dict, as_list

TERMINATE_KEY = "fc-terminate"
DEFAULT_GRACE = 30  # Kubernetes' terminationGracePeriodSeconds
MAX_GRACE = 3600  # what spec.terminationGracePeriodSeconds allows; a larger deletion grace is cut to it
# After the grace period, the time the agent's last report may take to arrive.
SLACK = timedelta(seconds=10)

Step = Literal["start", "wait", "finish"]


def _seconds(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return min(value, MAX_GRACE)


def grace_seconds(data: dict[str, Any]) -> int:
    """The grace period of this deletion: ``metadata.deletionGracePeriodSeconds`` when a
    deleter set one, else ``spec.terminationGracePeriodSeconds``, else 30. A value that
    is not a non-negative integer is ignored (any Firestore client can write one)."""
    meta, spec = as_dict(data.get("metadata")), as_dict(data.get("spec"))
    for value in (meta.get("deletionGracePeriodSeconds"), spec.get("terminationGracePeriodSeconds")):
        seconds = _seconds(value)
        if seconds is not None:
            return seconds
    return DEFAULT_GRACE


def containers_terminated(data: dict[str, Any]) -> bool:
    """The agent's report says every container is terminated (``state.terminated``)."""
    statuses = as_list(as_dict(data.get("status")).get("containerStatuses"))
    return bool(statuses) and all(
        isinstance(as_dict(as_dict(s).get("state")).get("terminated"), dict) for s in statuses
    )


def runs_agent(data: dict[str, Any]) -> bool:
    vm_agent = as_dict(data.get("status")).get("vmAgent")
    return isinstance(vm_agent, str) and bool(vm_agent)


def termination_deadline(data: dict[str, Any]) -> datetime | None:
    """When the VM is deleted whatever the agent says: ``terminationStarted`` + grace + slack."""
    started = as_dict(data.get("status")).get("terminationStarted")
    if not isinstance(started, datetime):
        return None
    return started + timedelta(seconds=grace_seconds(data)) + SLACK


def termination_step(data: dict[str, Any], now: datetime) -> Step:
    """What a pass over a pod being deleted does about its VM:

    - ``finish``: delete it now: no agent runs there, the grace is 0, the pod has finished
      (its containers are gone), every container reported terminated, or time is up;
    - ``start``: take it out of service and ask its agent to stop the containers;
    - ``wait``: the agent is stopping them; nothing to write.
    """
    phase = as_dict(data.get("status")).get("phase")
    if not runs_agent(data) or phase in ("Succeeded", "Failed") or grace_seconds(data) == 0:
        return "finish"
    deadline = termination_deadline(data)
    if deadline is None:
        return "start"
    if containers_terminated(data) or now >= deadline:
        return "finish"
    return "wait"
