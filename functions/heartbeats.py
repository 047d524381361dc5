"""Pod heartbeats: one small document per agent-run pod, renewed by its agent's reports.

Kubernetes moved node heartbeats out of the Node object into Lease objects so that a
heartbeat is one cheap write that wakes nobody. The same here: a report that changes
nothing writes only ``namespaces/{ns}/heartbeats/{pod}``, which no trigger watches, and
the pod document (whose every write fires ``sync_pod``) is written only on a change.
Resync finds silent pods with one query on ``renewTime`` (docs/agent-protocol.md §5).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

HEARTBEATS = "heartbeats"
RENEW_TIME = "renewTime"
# The digest of the last report content written to the pod: a report with the same
# content only renews the heartbeat. Whoever writes the pod's readiness instead (resync's
# node lifecycle) clears it, so the agent's next report writes the pod again.
APPLIED = "applied"
# A heartbeat document outlives its pod by at most this (Firestore TTL on ``expireAt``).
TTL = timedelta(days=1)


def heartbeat_path(namespace: str, pod: str) -> str:
    return f"namespaces/{namespace}/{HEARTBEATS}/{pod}"


def initial_heartbeat(now: datetime, *, pod_uid: str, instance_name: str, instance_id: str, zone: str) -> dict[str, Any]:
    """What the pod runtime writes when it makes an agent VM: the clock starts at creation,
    so an agent that never reports is noticed like one that stopped."""
    return {
        RENEW_TIME: now, "boot": "", "sequence": -1, "iat": 0,
        "podUid": pod_uid, "instanceName": instance_name, "instanceId": instance_id, "zone": zone,
        "expireAt": now + TTL,
    }
