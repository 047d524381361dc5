"""The ``meta.k8s.io/v1`` Table kubectl asks for (``Accept: ...;as=Table;v=v1;g=meta.k8s.io``).

kubectl prints what the server puts in the Table, so the columns and cells here are the
apiserver's printers (``pkg/printers/internalversion/printers.go``, as of v1.32), run the
way the apiserver runs them: wide, every column present, kubectl hiding priority 1
unless ``-o wide``. Cells are computed from the served object (``functions.served``);
helpers shared with the CLI's tables live in ``functions.api.columns``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.api.columns import NONE, containers_text, labels, quota_columns, since, time_of
from functions.api.shapes import as_int, as_list, as_map
from functions.kubeapi import status
from functions.kubeapi.resources import Resource

INCLUDE_OBJECT = ("Metadata", "Object", "None")

NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. "
    "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the "
    "system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
CONTAINERS_DOC = "Names of each container in the template."
IMAGES_DOC = "Images referenced by each container in the template."


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


NAME = Column("Name", format="name", description=NAME_DOC)
AGE = Column("Age", description=AGE_DOC)
WORKLOAD_WIDE = (Column("Containers", priority=1, description=CONTAINERS_DOC),
                 Column("Images", priority=1, description=IMAGES_DOC))

def _replica_columns(what: str, count: str) -> tuple[Column, ...]:
    """Replication controllers' and ReplicaSets' columns: the same but for two words."""
    return (
        NAME,
        Column("Desired", "integer", "Replicas is the number of desired replicas."),
        Column("Current", "integer", "Replicas is the most recently observed number of replicas."),
        Column("Ready", "integer", f"The number of ready replicas for this {what}."),
        AGE, *WORKLOAD_WIDE,
        Column("Selector", priority=1, description=f"Selector is a label query over pods that should "
                                                   f"match the {count}."),
    )


COLUMNS: dict[str, tuple[Column, ...]] = {
    "pods": (
        NAME,
        Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
        Column("Status", description="The aggregate status of the containers in this pod."),
        Column("Restarts", description="The number of times the containers in this pod have been "
                                       "restarted and when the last container in this pod has restarted."),
        AGE,
        Column("IP", priority=1, description="podIP address allocated to the pod. Routable at least "
                                             "within the cluster. Empty if not yet allocated."),
        Column("Node", priority=1, description="NodeName indicates in which node this pod is scheduled."),
        Column("Nominated Node", priority=1, description="nominatedNodeName is set only when this pod "
                                                         "preempts other pods on the node."),
        Column("Readiness Gates", priority=1, description="If specified, all readiness gates will be "
                                                          "evaluated for pod readiness."),
    ),
    "replicationcontrollers": _replica_columns("replication controller", "Replicas count"),
    "replicasets": _replica_columns("replica set", "replica count"),
    "deployments": (
        NAME,
        Column("Ready", description="Number of the pod with ready state"),
        Column("Up-to-date", description="Total number of non-terminated pods targeted by this "
                                         "deployment that have the desired template spec."),
        Column("Available", description="Total number of available pods (ready for at least "
                                        "minReadySeconds) targeted by this deployment."),
        AGE, *WORKLOAD_WIDE,
        Column("Selector", priority=1, description="Label selector for pods."),
    ),
    "services": (
        NAME,
        Column("Type", description="type determines how the Service is exposed."),
        Column("Cluster-IP", description="clusterIP is the IP address of the service."),
        Column("External-IP", description="externalIPs is a list of IP addresses for which nodes in "
                                          "the cluster will also accept traffic for this service."),
        Column("Port(s)", description="The list of ports that are exposed by this service."),
        AGE,
        Column("Selector", priority=1, description="Route service traffic to pods with label keys "
                                                   "and values matching this selector."),
    ),
    "events": (
        Column("Last Seen", description="The time at which the most recent occurrence of this event "
                                        "was recorded."),
        Column("Type", description="Type of this event (Normal, Warning), new types could be added "
                                   "in the future"),
        Column("Reason", description="This should be a short, machine understandable string that "
                                     "gives the reason for the transition into the object's current status."),
        Column("Object", description="The object that this event is about."),
        Column("Subobject", priority=1, description="If referring to a piece of an object instead of "
                                                    "an entire object, this string should contain a valid "
                                                    "JSON/Go field access statement."),
        Column("Source", priority=1, description="The component reporting this event."),
        Column("Message", description="A human-readable description of the status of this operation."),
        Column("First Seen", priority=1, description="The time at which the event was first recorded."),
        Column("Count", priority=1, description="The number of times this event has occurred."),
        Column("Name", priority=1, format="name", description=NAME_DOC),
    ),
    "namespaces": (NAME, Column("Status", description="The status of the namespace"), AGE),
    "resourcequotas": (  # v1.32's order; v1.33 moves Age last
        NAME, AGE,
        Column("Request", description="Request represents a minimum amount of cpu/memory that a "
                                      "container may consume."),
        Column("Limit", description="Limits control the maximum amount of cpu/memory that a container "
                                    "may use independent of contention on the node."),
    ),
}

POD_SUCCEEDED = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                  "message": "The pod has completed successfully."}]
POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


def _count(value: Any, default: int = 0) -> int:
    number = as_int(value)
    return default if number is None else number


def _later(current: datetime | None, value: Any) -> datetime | None:
    when = time_of(value)
    return when if when is not None and (current is None or when > current) else current


def _waiting(container: dict[str, Any]) -> dict[str, Any] | None:
    waiting = as_map(container.get("state")).get("waiting")
    return waiting if isinstance(waiting, dict) else None


def _terminated(container: dict[str, Any]) -> dict[str, Any] | None:
    terminated = as_map(container.get("state")).get("terminated")
    return terminated if isinstance(terminated, dict) else None


def _exit_reason(terminated: dict[str, Any], prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + str(terminated["reason"])
    signal = _count(terminated.get("signal"))
    return f"{prefix}Signal:{signal}" if signal else f"{prefix}ExitCode:{_count(terminated.get('exitCode'))}"


def _condition_true(status_: dict[str, Any], kind: str) -> bool:
    return any(as_map(c).get("type") == kind and as_map(c).get("status") == "True"
               for c in as_list(status_.get("conditions")))


def pod_cells(pod: dict[str, Any], now: datetime) -> list[Any]:
    """``printPod``: READY counts running ready containers (and started sidecars), STATUS
    is the phase or the first reason that explains it (``Init:...``, a waiting or
    terminated container's reason, ``Terminating``, ``Unknown`` for a lost node),
    RESTARTS carries how long ago the last one was."""
    meta, spec, st = as_map(pod.get("metadata")), as_map(pod.get("spec")), as_map(pod.get("status"))
    phase = str(st.get("phase") or "Pending")
    reason = str(st.get("reason") or phase)
    for condition in as_list(st.get("conditions")):
        if as_map(condition).get("type") == "PodScheduled" and as_map(condition).get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    init_specs = [as_map(c) for c in as_list(spec.get("initContainers"))]
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(as_list(spec.get("containers"))) + sum(1 for c in init_specs if c.get("restartPolicy") == "Always")
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    initializing = False
    for index, raw in enumerate(as_list(st.get("initContainerStatuses"))):
        container = as_map(raw)
        restarts += _count(container.get("restartCount"))
        finished = as_map(as_map(container.get("lastState")).get("terminated")).get("finishedAt")
        last_restart = _later(last_restart, finished)
        sidecar = container.get("name") in sidecars
        if sidecar:
            sidecar_restarts += _count(container.get("restartCount"))
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        terminated, waiting = _terminated(container), _waiting(container)
        if terminated is not None and _count(terminated.get("exitCode")) == 0:
            continue
        if sidecar and container.get("started") is True:
            ready += 1 if container.get("ready") is True else 0
            continue
        if terminated is not None:
            reason = _exit_reason(terminated, "Init:")
        elif waiting is not None and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(st, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        running = False
        for raw in reversed(as_list(st.get("containerStatuses"))):
            container = as_map(raw)
            restarts += _count(container.get("restartCount"))
            last_restart = _later(last_restart, as_map(as_map(container.get("lastState")).get("terminated")).get("finishedAt"))
            terminated, waiting = _terminated(container), _waiting(container)
            if waiting is not None and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated is not None:
                reason = _exit_reason(terminated)
            elif container.get("ready") is True and isinstance(as_map(container.get("state")).get("running"), dict):
                running = True
                ready += 1
        if reason == "Completed" and running:
            reason = "Running" if _condition_true(st, "Ready") else "NotReady"

    if meta.get("deletionTimestamp") and st.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({since(last_restart, now)} ago)"

    ips = [as_map(i).get("ip") for i in as_list(st.get("podIPs"))]
    pod_ip = (ips[0] if ips else None) or st.get("podIP") or NONE
    gates = [as_map(g).get("conditionType") for g in as_list(spec.get("readinessGates"))]
    gates_text = NONE
    if gates:
        found = {as_map(c).get("type"): as_map(c).get("status") for c in reversed(as_list(st.get("conditions")))}
        gates_text = f"{sum(1 for g in gates if found.get(g) == 'True')}/{len(gates)}"
    return [meta.get("name", ""), f"{ready}/{total}", reason, restarts_text, since(meta.get("creationTimestamp"), now),
            str(pod_ip), str(spec.get("nodeName") or NONE), str(st.get("nominatedNodeName") or NONE), gates_text]


def _label_selector(raw: Any) -> str | None:
    """``LabelSelectorAsSelector(...).String()``; None when it does not parse."""
    from pydantic import ValidationError

    from functions.api.selector import LabelSelector

    try:
        parsed = LabelSelector.model_validate(as_map(raw))
    except ValidationError:
        return None
    return "" if parsed.empty else parsed.text()


def _workload_cells(obj: dict[str, Any], now: datetime, kind: str) -> list[Any]:
    meta, spec, st = as_map(obj.get("metadata")), as_map(obj.get("spec")), as_map(obj.get("status"))
    desired = _count(spec.get("replicas"), 1)
    names, images = containers_text(as_map(as_map(spec.get("template")).get("spec")))
    age = since(meta.get("creationTimestamp"), now)
    if kind == "deployments":
        selector = _label_selector(spec.get("selector"))
        return [meta.get("name", ""), f"{_count(st.get('readyReplicas'))}/{desired}", _count(st.get("updatedReplicas")),
                _count(st.get("availableReplicas")), age, names, images,
                "<invalid>" if selector is None else selector]
    if kind == "replicationcontrollers":
        selector_text = labels(as_map(spec.get("selector")))
    else:  # metav1.FormatLabelSelector
        selector = _label_selector(spec.get("selector")) if spec.get("selector") is not None else ""
        selector_text = "<error>" if selector is None else (selector or NONE)
    return [meta.get("name", ""), desired, _count(st.get("replicas")), _count(st.get("readyReplicas")), age,
            names, images, selector_text]


def external_ip(spec: dict[str, Any], st: dict[str, Any]) -> str:
    """``getServiceExternalIP`` (wide): load balancer ingress, then ``spec.externalIPs``."""
    kind = spec.get("type") or "ClusterIP"
    external = [str(ip) for ip in as_list(spec.get("externalIPs"))]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or NONE
    if kind == "LoadBalancer":
        ingress = sorted({str(as_map(i).get("ip") or as_map(i).get("hostname"))
                          for i in as_list(as_map(st.get("loadBalancer")).get("ingress"))
                          if as_map(i).get("ip") or as_map(i).get("hostname")})
        return ",".join(ingress + external) or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def ports_text(spec: dict[str, Any]) -> str:
    """``makePortString``: ``80/TCP``, or ``80:30080/TCP`` with a node port."""
    pieces = []
    for raw in as_list(spec.get("ports")):
        port = as_map(raw)
        protocol = port.get("protocol") or "TCP"
        node_port = _count(port.get("nodePort"))
        pieces.append(f"{_count(port.get('port'))}:{node_port}/{protocol}" if node_port > 0
                      else f"{_count(port.get('port'))}/{protocol}")
    return ",".join(pieces) or NONE


def _service_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, st = as_map(obj.get("metadata")), as_map(obj.get("spec")), as_map(obj.get("status"))
    cluster_ips = as_list(spec.get("clusterIPs"))
    cluster_ip = (cluster_ips[0] if cluster_ips else None) or spec.get("clusterIP") or NONE
    return [meta.get("name", ""), str(spec.get("type") or "ClusterIP"), str(cluster_ip), external_ip(spec, st),
            ports_text(spec), since(meta.get("creationTimestamp"), now), labels(as_map(spec.get("selector")))]


def _event_cells(event: dict[str, Any], now: datetime) -> list[Any]:
    """``printEvent`` (wide): last seen falls back to first seen, then to ``eventTime``;
    a series overrides both the time and the count."""
    meta, involved = as_map(event.get("metadata")), as_map(event.get("involvedObject"))
    first = since(event.get("firstTimestamp"), now) if time_of(event.get("firstTimestamp")) else since(event.get("eventTime"), now)
    last = since(event.get("lastTimestamp"), now) if time_of(event.get("lastTimestamp")) else first
    count = _count(event.get("count"))
    series = event.get("series")
    if isinstance(series, dict):
        last, count = since(series.get("lastObservedTime"), now), _count(series.get("count"))
    elif count == 0:
        count = 1
    kind, name = str(involved.get("kind") or "").lower(), str(involved.get("name") or "")
    source = as_map(event.get("source"))
    component = str(source.get("component") or event.get("reportingComponent") or "")
    host = str(source.get("host") or event.get("reportingInstance") or "")
    return [last, str(event.get("type") or ""), str(event.get("reason") or ""), f"{kind}/{name}" if name else kind,
            str(involved.get("fieldPath") or ""), f"{component}, {host}" if host else component,
            str(event.get("message") or "").strip(), first, count, meta.get("name", "")]


def _namespace_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    meta = as_map(obj.get("metadata"))
    return [meta.get("name", ""), str(as_map(obj.get("status")).get("phase") or ""), since(meta.get("creationTimestamp"), now)]


def _quota_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    """``printResourceQuota`` reads ``status.hard``; a quota the controller has not yet
    counted falls back to ``spec.hard``."""
    meta, spec, st = as_map(obj.get("metadata")), as_map(obj.get("spec")), as_map(obj.get("status"))
    hard = as_map(st.get("hard")) or as_map(spec.get("hard"))
    request, limit = quota_columns(hard, as_map(st.get("used")))
    return [meta.get("name", ""), since(meta.get("creationTimestamp"), now), request, limit]


CELLS: dict[str, Callable[[dict[str, Any], datetime], list[Any]]] = {
    "pods": pod_cells,
    "replicationcontrollers": lambda o, now: _workload_cells(o, now, "replicationcontrollers"),
    "replicasets": lambda o, now: _workload_cells(o, now, "replicasets"),
    "deployments": lambda o, now: _workload_cells(o, now, "deployments"),
    "services": _service_cells,
    "events": _event_cells,
    "namespaces": _namespace_cells,
    "resourcequotas": _quota_cells,
}


def column_definitions(resource: Resource) -> list[dict[str, Any]]:
    return [c.to_dict() for c in COLUMNS[resource.plural]]


def check_include_object(include_object: str) -> str:
    """The ``includeObject`` parameter ("" is Metadata); anything else is a 400."""
    if include_object in ("", *INCLUDE_OBJECT):
        return include_object or "Metadata"
    raise status.bad_request(
        "Unable to convert to Table as requested: includeObject: Invalid value: "
        f"\"{include_object}\": must be 'Metadata', 'Object', 'None', or empty"
    )


def row_object(obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    """What a row carries: the object's metadata as a PartialObjectMetadata, the whole
    object, or nothing."""
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": as_map(obj.get("metadata"))}


def row(resource: Resource, obj: dict[str, Any], now: datetime, include_object: str = "Metadata") -> dict[str, Any]:
    out: dict[str, Any] = {"cells": CELLS[resource.plural](obj, now), "object": row_object(obj, include_object)}
    phase = as_map(obj.get("status")).get("phase") if resource.plural == "pods" else None
    if phase in ("Succeeded", "Failed"):
        out["conditions"] = POD_SUCCEEDED if phase == "Succeeded" else POD_FAILED
    return out


def table(resource: Resource, objects: list[dict[str, Any]], now: datetime,
          include_object: str = "Metadata") -> dict[str, Any]:
    """A Table of served objects; one object's Table carries its resourceVersion (what
    each watch event holds)."""
    include = check_include_object(include_object)
    metadata: dict[str, Any] = {}
    if len(objects) == 1:
        version = as_map(objects[0].get("metadata")).get("resourceVersion")
        if version:
            metadata["resourceVersion"] = version
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions(resource),
        "rows": [row(resource, obj, now, include) for obj in objects],
    }


def table_for_list(resource: Resource, list_obj: dict[str, Any], now: datetime,
                   include_object: str = "Metadata") -> dict[str, Any]:
    """A served ``{Kind}List`` as a Table, keeping the list's resourceVersion, continue
    token and remainingItemCount (kubectl pages with them)."""
    items = [as_map(i) for i in as_list(list_obj.get("items"))]
    out = table(resource, items, now, include_object)
    list_meta = as_map(list_obj.get("metadata"))
    out["metadata"] = {k: list_meta[k] for k in ("resourceVersion", "continue", "remainingItemCount")
                       if list_meta.get(k) not in (None, "")}
    return out
