"""One table row per document, per kind, as kubectl prints them.

Pure functions of a stored document (either shape) and the time now, so they are
the same in ``get``, ``get -w`` and ``describe``. The cell helpers below ``row`` are
shared with ``kube_api``'s Table form (``functions.kubeapi.tables``), which follows the
apiserver's printers exactly; the CLI keeps its own short ``age``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
from functions.api.pod import current_spellings
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


def human_duration(delta: timedelta) -> str:
    """Kubernetes' ``duration.HumanDuration``: two or three significant figures,
    ``45s``, ``5m30s`` (under 10 minutes), ``95m`` (under 3 hours), ``3h20m``, ``20h``,
    ``3d4h`` (under 8 days), ``200d``, ``2y30d`` (under 8 years), ``9y``."""
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y{rest}d" if rest else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def time_of(value: Any) -> datetime | None:
    """A timestamp as stored (datetime) or as served (RFC 3339 text); None otherwise."""
    if isinstance(value, str) and value:
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def since(value: Any, now: datetime) -> str:
    """The apiserver's ``translateTimestampSince``: ``<unknown>`` without a time."""
    when = time_of(value)
    return "<unknown>" if when is None else human_duration(now - when)


def containers_text(template_spec: dict[str, Any]) -> tuple[str, str]:
    """The CONTAINERS and IMAGES cells of a pod spec (``layoutContainerCells``)."""
    containers = [as_map(c) for c in as_list(template_spec.get("containers"))]
    return (",".join(_text(c.get("name")) for c in containers),
            ",".join(_text(c.get("image")) for c in containers))


def quota_resources(hard: dict[str, Any], used: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(resource as written, used, hard) of a quota, in name order; used ``0`` if unknown."""
    return [(str(k), str(used.get(k, "0")), str(v)) for k, v in sorted(hard.items(), key=lambda kv: str(kv[0]))]


def quota_columns(hard: dict[str, Any], used: dict[str, Any]) -> tuple[str, str]:
    """The REQUEST and LIMIT cells of a quota: ``resource: used/hard`` in name order,
    ``limits.*`` in the second (``printResourceQuota``)."""
    found = quota_resources(hard, used)
    return (", ".join(f"{k}: {u}/{h}" for k, u, h in found if not k.startswith("limits.")),
            ", ".join(f"{k}: {u}/{h}" for k, u, h in found if k.startswith("limits.")))


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
            ip = current_spellings(status).get("podIP")  # podIp: a document written before issue 13
            cells += [_text(ip or NONE), _text(spec.get("nodeName") or NONE)]
    elif kind is QUOTA:
        request, limit = quota_columns(as_map(spec.get("hard")), as_map(status.get("used")))
        cells = [doc.name, age(created, now), request, limit]
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
    """A stored selector of either kind (a v1 map or an apps/v1 LabelSelector) as kubectl
    prints it (``app=web,tier in (a,b)``); ``<invalid>`` if it does not parse."""
    from pydantic import ValidationError

    from functions.api.selector import LabelSelector

    if isinstance(raw, dict) and not ({"matchLabels", "matchExpressions"} & raw.keys()):
        raw = {"matchLabels": raw}
    try:
        return LabelSelector.model_validate(as_map(raw)).text()
    except ValidationError:
        return "<invalid>"


def labels(values: dict[str, Any]) -> str:
    return ",".join(f"{k}={_text(v)}" for k, v in sorted(values.items())) or NONE


def _text(value: Any) -> str:
    return "" if value is None else str(value)
