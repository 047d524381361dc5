"""One table row per document, per kind, as kubectl prints them.

Pure functions of a stored document (either shape) and the time now, so they are
the same in ``get``, ``get -w`` and ``describe``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.api import shapes
from functions.api.kinds import (
    CONTROLLER,
    DEPLOYMENT,
    EVENT,
    POD,
    QUOTA,
    REPLICA_SET,
    SERVICE,
    Kind,
)
from functions.api.shapes import as_list, as_map

if TYPE_CHECKING:
    from functions.store import Doc

NONE = "<none>"


def age(since: Any, now: datetime | None = None) -> str:
    """kubectl's short age: 42s, 5m, 3h, 2d; ``<unknown>`` without a time."""
    if not isinstance(since, datetime):
        return "<unknown>"
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "d" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def headers(kind: Kind, wide: bool, all_namespaces: bool) -> list[str]:
    columns = {
        CONTROLLER: ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        REPLICA_SET: ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        DEPLOYMENT: ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        POD: ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        SERVICE: ["NAME", "TYPE", "EXTERNAL-IP", "PORTS", "AGE"],
        EVENT: ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE", "COUNT"],
        QUOTA: ["NAME", "AGE", "REQUEST", "LIMIT"],
    }[kind]
    if wide:
        columns += {
            CONTROLLER: ["CONTAINERS", "IMAGES", "SELECTOR"],
            REPLICA_SET: ["CONTAINERS", "IMAGES", "SELECTOR"],
            DEPLOYMENT: ["CONTAINERS", "IMAGES", "SELECTOR"],
            POD: ["IP", "NODE"],
            SERVICE: ["SELECTOR"],
            EVENT: [],
            QUOTA: [],
        }[kind]
    return (["NAMESPACE"] if all_namespaces else []) + columns


def row(kind: Kind, doc: Doc, now: datetime, wide: bool, all_namespaces: bool) -> list[str]:
    data = shapes.as_v1(kind, doc.data)
    spec, status = as_map(data.get("spec")), as_map(data.get("status"))
    created = as_map(data.get("metadata")).get("creationTimestamp") or doc.create_time
    cells: list[str]
    if kind in (CONTROLLER, REPLICA_SET, DEPLOYMENT):
        if kind is DEPLOYMENT:  # kubectl's printDeployment
            cells = [doc.name, f"{_text(status.get('readyReplicas', 0))}/{_text(spec.get('replicas', 1))}",
                     _text(status.get("updatedReplicas", 0)), _text(status.get("availableReplicas", 0)),
                     age(created, now)]
        else:
            cells = [doc.name, _text(spec.get("replicas", 1)), _text(status.get("replicas", 0)),
                     _text(status.get("readyReplicas", 0)), age(created, now)]
        if wide:
            containers = [as_map(c) for c in as_list(as_map(as_map(spec.get("template")).get("spec")).get("containers"))]
            cells += [",".join(_text(c.get("name")) for c in containers) or NONE,
                      ",".join(_text(c.get("image")) for c in containers) or NONE,
                      labels(as_map(spec.get("selector"))) if kind is CONTROLLER else selector(spec.get("selector"))]
    elif kind is POD:
        statuses = [as_map(c) for c in as_list(status.get("containerStatuses"))]
        ready = sum(1 for c in statuses if c.get("ready") is True)
        restarts = sum(c["restartCount"] for c in statuses if isinstance(c.get("restartCount"), int))
        cells = [doc.name, f"{ready}/{len(as_list(spec.get('containers')))}", pod_status(data), str(restarts),
                 age(created, now)]
        if wide:
            cells += [_text(status.get("podIP") or NONE), _text(spec.get("nodeName") or NONE)]
    elif kind is QUOTA:
        from functions.cli.quotas import resources

        found = resources(data)
        cells = [doc.name, age(created, now),
                 ", ".join(f"{k}: {u}/{h}" for k, u, h in found if not k.startswith("limits.")),
                 ", ".join(f"{k}: {u}/{h}" for k, u, h in found if k.startswith("limits."))]
    elif kind is SERVICE:
        cells = [doc.name, _text(spec.get("type", "ClusterIP")), external_ip(spec, status), ports(spec), age(created, now)]
        if wide:
            cells.append(labels(as_map(spec.get("selector"))))
    else:
        involved = as_map(data.get("involvedObject"))
        cells = [age(data.get("lastTimestamp") or doc.update_time, now), _text(data.get("type", "Normal")),
                 _text(data.get("reason", "")), f"{_text(involved.get('kind', '')).lower()}/{_text(involved.get('name', ''))}",
                 _text(data.get("message", "")), _text(data.get("count", 1))]
    return ([doc.namespace] if all_namespaces else []) + cells


def pod_status(data: dict[str, Any]) -> str:
    """What kubectl's STATUS column says (its printPod): the phase, or the pod's reason,
    or a container's waiting or terminated reason (``CrashLoopBackOff``, ``Error``,
    ``Completed``), ``Unknown`` for a lost VM, and Terminating once marked for deletion."""
    status = as_map(data.get("status"))
    reason = _text(status.get("phase") or "Pending")
    if status.get("reason"):
        reason = _text(status.get("reason"))
    running = False
    for container in reversed(as_list(status.get("containerStatuses"))):
        state = as_map(as_map(container).get("state"))
        waiting, terminated = as_map(state.get("waiting")), as_map(state.get("terminated"))
        if waiting.get("reason"):
            reason = _text(waiting["reason"])
        elif terminated.get("reason"):
            reason = _text(terminated["reason"])
        elif terminated:
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{_text(terminated.get('exitCode'))}"
        elif "running" in state and as_map(container).get("ready") is True:
            running = True
    if reason == "Completed" and running:
        reason = "Running"
    if as_map(data.get("metadata")).get("deletionTimestamp") is not None:
        return "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason


def external_ip(spec: dict[str, Any], status: dict[str, Any]) -> str:
    ingress = as_list(as_map(status.get("loadBalancer")).get("ingress"))
    found = [_text(as_map(i).get("ip") or as_map(i).get("hostname")) for i in ingress if as_map(i)]
    if found:
        return ",".join(found)
    return "<pending>" if spec.get("type") == "LoadBalancer" else NONE


def ports(spec: dict[str, Any]) -> str:
    found = [f"{_text(as_map(p).get('port'))}/{_text(as_map(p).get('protocol', 'TCP'))}" for p in as_list(spec.get("ports"))]
    return ",".join(found) or NONE


def selector(raw: Any) -> str:
    """An apps/v1 LabelSelector as kubectl prints it."""
    from functions.cli.workloads import selector_text

    return selector_text(raw)


def labels(values: dict[str, Any]) -> str:
    return ",".join(f"{k}={_text(v)}" for k, v in sorted(values.items())) or NONE


def _text(value: Any) -> str:
    return "" if value is None else str(value)
