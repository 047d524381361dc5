"""``describe KIND NAME``: what a person needs to see why an object is as it is.

The spec in short, the status, the conditions, what validation says about the
document now (the same parse the functions run), and the object's events, newest last.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.api import columns, shapes
from functions.api.columns import age
from functions.api.shapes import as_list, as_map
from functions.cli import reads
from functions.cli.errors import CliError
from functions.cli.kinds import CONTROLLER, DEPLOYMENT, POD, QUOTA, REPLICA_SET, SERVICE, Kind
from functions.cli.output import Output, rfc3339
from functions.served import with_defaults

if TYPE_CHECKING:
    from functions.store import Doc, Store

DESCRIBABLE = (CONTROLLER, REPLICA_SET, DEPLOYMENT, POD, SERVICE, QUOTA)


def run(store: Store, kind: Kind, name: str, namespace: str, max_replicas: int, out: Output) -> int:
    doc = reads.get(store, kind, namespace, name)
    if doc is None:
        raise CliError(f'error: {kind.qualified} "{name}" not found in namespace {namespace!r}')
    now = datetime.now(UTC)
    if kind in (DEPLOYMENT, REPLICA_SET):
        from functions.cli import describe_workloads

        show = describe_workloads.describe_deployment if kind is DEPLOYMENT else describe_workloads.describe_replica_set
        show(store, doc, now, validation(kind, doc, max_replicas), out)
        return 0
    if kind is QUOTA:
        from functions.cli.quotas import with_usage

        [doc] = with_usage(store, [doc])
    data = with_defaults(kind, doc.data)  # a selector defaulted from the template's labels is shown
    for label, value in summary(kind, doc, data, now):
        out.line(f"{label + ':':<18}{value}")
    if kind is QUOTA:
        found = columns.quota_resources(as_map(as_map(data.get("spec")).get("hard")),
                                        as_map(as_map(data.get("status")).get("used")))
        out.line("Resources:" if found else "Resources:        <none>")
        if found:
            out.table(["RESOURCE", "USED", "HARD"], [list(row) for row in found])
    status = as_map(data.get("status"))
    conditions = [as_map(c) for c in as_list(status.get("conditions")) if isinstance(c, dict)]
    out.line("Conditions:" if conditions else "Conditions:       <none>")
    if conditions:
        out.table(["TYPE", "STATUS", "REASON", "MESSAGE", "LAST TRANSITION"], [
            [str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason") or ""),
             str(c.get("message") or ""), _time(c.get("lastTransitionTime"))]
            for c in conditions
        ])
    problems = validation(kind, doc, max_replicas)
    if problems:
        out.line("Problems:")
        for problem in problems:
            out.line(f"  {problem}")
    events = reads.events_for(store, namespace, kind.kind, name)
    out.line("Events:" if events else "Events:           <none>")
    if events:
        out.table(["LAST SEEN", "TYPE", "REASON", "MESSAGE", "COUNT"], [
            [age(e.data.get("lastTimestamp") or e.update_time, now), str(e.data.get("type", "Normal")),
             str(e.data.get("reason", "")), str(e.data.get("message", "")), str(e.data.get("count", 1))]
            for e in events
        ])
    return 0


def summary(kind: Kind, doc: Doc, data: dict[str, Any], now: datetime) -> list[tuple[str, str]]:
    meta, spec, status = as_map(data.get("metadata")), as_map(data.get("spec")), as_map(data.get("status"))
    created = meta.get("creationTimestamp") or doc.create_time
    lines = [
        ("Name", doc.name),
        ("Namespace", doc.namespace),
        ("Labels", columns.labels(as_map(meta.get("labels")))),
        ("Annotations", columns.labels(as_map(meta.get("annotations")))),
        ("Created", f"{_time(created)} ({age(created, now)} ago)"),
    ]
    if meta.get("deletionTimestamp") is not None:
        lines.append(("Deleting since", _time(meta["deletionTimestamp"])))
    if meta.get("finalizers"):
        lines.append(("Finalizers", ", ".join(str(f) for f in as_list(meta["finalizers"]))))
    if kind is CONTROLLER:
        template = as_map(spec.get("template"))
        lines += [
            ("Replicas", f"{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired"),
            ("Pods Status", f"{status.get('readyReplicas', 0)} ready / {status.get('availableReplicas', 0)} available"),
            ("Selector", columns.labels(as_map(spec.get("selector")))),
            ("Generation", f"{meta.get('generation', '-')} (observed {status.get('observedGeneration', '-')})"),
            *_containers(as_map(template.get("spec"))),
        ]
        if shapes.is_legacy(kind, doc.data):
            lines.append(("Shape", "2014 (v1beta1), converted on read"))
    elif kind is POD:
        owner = next((as_map(r) for r in as_list(meta.get("ownerReferences")) if as_map(r).get("controller")), {})
        lines += [
            ("Status", columns.pod_status(data)),
            ("Node", str(spec.get("nodeName") or columns.NONE)),
            ("IP", str(status.get("podIP") or columns.NONE)),
            ("Controlled By", f"{owner.get('kind')}/{owner.get('name')}" if owner else columns.NONE),
            *_containers(spec),
            *_container_states(status),
        ]
    elif kind is SERVICE:
        lines += [
            ("Type", str(spec.get("type", "ClusterIP"))),
            ("Selector", columns.labels(as_map(spec.get("selector")))),
            ("Ports", columns.ports(spec)),
            ("LoadBalancer IP", columns.external_ip(spec, status)),
        ]
    return lines


def _containers(pod_spec: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for container in as_list(pod_spec.get("containers")):
        c = as_map(container)
        ports = ",".join(f"{as_map(p).get('containerPort')}/{as_map(p).get('protocol', 'TCP')}" for p in as_list(c.get("ports")))
        found.append(("Container", f"{c.get('name')}  image {c.get('image')}" + (f"  ports {ports}" if ports else "")))
    return found


def _container_states(status: dict[str, Any]) -> list[tuple[str, str]]:
    """What each container's agent last reported: state, readiness, restarts, last exit."""
    found = []
    for container in as_list(status.get("containerStatuses")):
        c = as_map(container)
        text = f"{c.get('name')}  {_state(as_map(c.get('state')))}  ready {str(c.get('ready') is True).lower()}" \
               f"  restarts {c.get('restartCount', 0)}"
        last = _state(as_map(c.get("lastState")))
        found.append(("State", text + (f"  last {last}" if last != "-" else "")))
    return found


def _state(state: dict[str, Any]) -> str:
    for kind in ("waiting", "running", "terminated"):
        if kind in state:
            detail = as_map(state[kind])
            reason = detail.get("reason")
            code = detail.get("exitCode")
            extra = ", ".join(str(x) for x in (reason, None if code is None else f"exit {code}") if x)
            text = kind.capitalize() + (f" ({extra})" if extra else "")
            message = detail.get("message")
            return text + (f": {message}" if message else "")
    return "-"


def validation(kind: Kind, doc: Doc, max_replicas: int) -> list[str]:
    """What the functions' parser says about the document as stored."""
    if kind.validate is None:
        return []
    parsed = kind.validate(doc.data, doc.namespace, doc.name, max_replicas)
    return [*parsed.errors, *(f"unknown field {path} (kept, not used)" for path in parsed.unknown)]


def _time(value: Any) -> str:
    return rfc3339(value) if isinstance(value, datetime) else "-"
