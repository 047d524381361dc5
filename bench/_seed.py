"""Pods as the pod runtime leaves them once Running on their VMs, for benches that seed
a cluster directly (not a benchmark: ``./dev bench`` skips files starting with ``_``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ZONE = "us-central1-a"


def running_pod(pod: str, app: str, owner: dict[str, Any], vm: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A controller's pod Running on ``vm``, its status as the runtime writes it."""
    from functions.controllers.pods import FINALIZER
    from functions.fingerprint import vm_term

    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod, "labels": {"app": app}, "ownerReferences": [owner], "finalizers": [FINALIZER],
                     "creationTimestamp": datetime.now(UTC)},
        "spec": {**spec, "nodeName": vm},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                   "vmFingerprint": vm_term(vm), "vmZone": ZONE},
    }
