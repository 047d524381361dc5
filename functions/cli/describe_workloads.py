"""``describe deployment`` and ``describe rs``, laid out as kubectl's describers do.

A Deployment: its replica counts on one line, the strategy, the pod template, the
conditions, and which ReplicaSets are old and which is new; a ReplicaSet: who controls
it, its replicas and its pods by phase.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.api import columns
from functions.api.columns import age
from functions.api.shapes import as_list, as_map
from functions.cli import reads, workloads
from functions.cli.kinds import DEPLOYMENT, REPLICA_SET, Kind
from functions.cli.output import Output

if TYPE_CHECKING:
    from functions.store import Doc, Store


def _labels_lines(values: dict[str, Any]) -> list[str]:
    """kubectl prints one label per line, the first beside the field name."""
    return [f"{k}={v}" for k, v in sorted(values.items())] or ["<none>"]


def _fields(rows: list[tuple[str, list[str] | str]], width: int) -> list[str]:
    lines: list[str] = []
    for label, value in rows:
        values = value if isinstance(value, list) else [value]
        lines.append(f"{label + ':':<{width}}{values[0]}")
        lines += [" " * width + v for v in values[1:]]
    return lines


def _created(doc: Doc) -> str:
    created = as_map(doc.data.get("metadata")).get("creationTimestamp") or doc.create_time
    if not isinstance(created, datetime):
        return "<unknown>"
    return (created if created.tzinfo else created.replace(tzinfo=UTC)).strftime("%a, %d %b %Y %H:%M:%S %z")


def pod_template(template: dict[str, Any]) -> list[str]:
    """kubectl's DescribePodTemplate, for what firecontrol's pods have."""
    meta, spec = as_map(template.get("metadata")), as_map(template.get("spec"))
    lines = _fields([("  Labels", _labels_lines(as_map(meta.get("labels"))))], 11)
    notes = as_map(meta.get("annotations"))
    if notes:
        lines += _fields([("  Annotations", _labels_lines(notes))], 16)
    lines.append("  Containers:")
    for container in as_list(spec.get("containers")):
        c = as_map(container)
        ports = [f"{as_map(p).get('containerPort')}/{as_map(p).get('protocol', 'TCP')}" for p in as_list(c.get("ports"))]
        env = [f"{as_map(e).get('name')}:  {as_map(e).get('value', '')}" for e in as_list(c.get("env"))]
        lines.append(f"   {c.get('name')}:")
        rows: list[tuple[str, list[str] | str]] = [("    Image", str(c.get("image")))]
        rows.append(("    Port" if len(ports) < 2 else "    Ports", ", ".join(ports) or "<none>"))
        if c.get("command"):
            rows.append(("    Command", [str(x) for x in as_list(c.get("command"))]))
        if c.get("args"):
            rows.append(("    Args", [str(x) for x in as_list(c.get("args"))]))
        rows.append(("    Environment", env or "<none>"))
        lines += _fields(rows, 18)
    return lines


def _events(store: Store, kind: Kind, doc: Doc, now: datetime, out: Output) -> None:
    events = reads.events_for(store, doc.namespace, kind.kind, doc.name)
    if not events:
        out.line("Events:          <none>")
        return
    out.line("Events:")
    out.table(["TYPE", "REASON", "AGE", "FROM", "MESSAGE"], [
        [str(e.data.get("type", "Normal")), str(e.data.get("reason", "")),
         age(e.data.get("lastTimestamp") or e.update_time, now),
         str(as_map(e.data.get("source")).get("component", "")), str(e.data.get("message", ""))]
        for e in events
    ])


def _conditions(status: dict[str, Any], out: Output, wide: bool) -> None:
    conditions = [as_map(c) for c in as_list(status.get("conditions")) if isinstance(c, dict)]
    if not conditions:
        return
    out.line("Conditions:")
    header = ["TYPE", "STATUS", "REASON"] + (["MESSAGE"] if wide else [])
    out.table(header, [[str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason") or "")]
                       + ([str(c.get("message") or "")] if wide else []) for c in conditions])


def _rs_summary(rs: Doc) -> str:
    spec, status = as_map(rs.data.get("spec")), as_map(rs.data.get("status"))
    return f"{rs.name} ({status.get('replicas', 0)}/{spec.get('replicas', 1)} replicas created)"


def strategy_text(spec: dict[str, Any]) -> tuple[str, str | None]:
    strategy = as_map(spec.get("strategy"))
    kind = str(strategy.get("type", "RollingUpdate"))
    if kind != "RollingUpdate":
        return kind, None
    rolling = as_map(strategy.get("rollingUpdate"))
    return kind, f"{rolling.get('maxUnavailable', '25%')} max unavailable, {rolling.get('maxSurge', '25%')} max surge"


def describe_deployment(store: Store, doc: Doc, now: datetime, problems: list[str], out: Output) -> None:
    meta, spec, status = (as_map(doc.data.get(k)) for k in ("metadata", "spec", "status"))
    replicas = spec.get("replicas", 1)
    kind, rolling = strategy_text(spec)
    rows: list[tuple[str, list[str] | str]] = [
        ("Name", doc.name),
        ("Namespace", doc.namespace),
        ("CreationTimestamp", _created(doc)),
        ("Labels", _labels_lines(as_map(meta.get("labels")))),
        ("Annotations", _labels_lines(as_map(meta.get("annotations")))),
        ("Selector", columns.selector(spec.get("selector"))),
        ("Replicas", f"{replicas} desired | {status.get('updatedReplicas', 0)} updated | "
                     f"{status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available | "
                     f"{status.get('unavailableReplicas', 0)} unavailable"),
        ("StrategyType", kind),
        ("MinReadySeconds", str(spec.get("minReadySeconds", 0))),
    ]
    if rolling is not None:
        rows.append(("RollingUpdateStrategy", rolling))
    if spec.get("paused") is True:
        rows.append(("Paused", "true"))
    for line in _fields(rows, 24):
        out.line(line)
    out.line("Pod Template:")
    for line in pod_template(as_map(spec.get("template"))):
        out.line(line)
    _conditions(status, out, wide=True)
    new, old = workloads.new_and_old(doc, workloads.replica_sets_of(store, doc))
    # kubectl lists as old only those still holding pods (FindOldReplicaSets' "required").
    holding = [rs for rs in old if as_map(rs.data.get("spec")).get("replicas", 1) or
               as_map(rs.data.get("status")).get("replicas", 0)]
    out.line(f"{'OldReplicaSets:':<17}{', '.join(_rs_summary(rs) for rs in holding) or '<none>'}")
    out.line(f"{'NewReplicaSet:':<17}{_rs_summary(new) if new else '<none>'}")
    _problems(problems, out)
    _events(store, DEPLOYMENT, doc, now, out)


def describe_replica_set(store: Store, doc: Doc, now: datetime, problems: list[str], out: Output) -> None:
    meta, spec, status = (as_map(doc.data.get(k)) for k in ("metadata", "spec", "status"))
    owner = workloads.controller_of(doc.data)
    phases = {"Running": 0, "Pending": 0, "Succeeded": 0, "Failed": 0}
    for pod in workloads.pods_of(store, REPLICA_SET, doc):
        phase = str(as_map(pod.data.get("status")).get("phase") or "Pending")
        phases[phase if phase in phases else "Pending"] += 1
    rows: list[tuple[str, list[str] | str]] = [
        ("Name", doc.name),
        ("Namespace", doc.namespace),
        ("Selector", columns.selector(spec.get("selector"))),
        ("Labels", _labels_lines(as_map(meta.get("labels")))),
        ("Annotations", _labels_lines(as_map(meta.get("annotations")))),
        ("Controlled By", f"{owner.get('kind')}/{owner.get('name')}" if owner else "<none>"),
        ("Replicas", f"{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired"),
        ("Pods Status", f"{phases['Running']} Running / {phases['Pending']} Waiting / "
                        f"{phases['Succeeded']} Succeeded / {phases['Failed']} Failed"),
    ]
    for line in _fields(rows, 16):
        out.line(line)
    out.line("Pod Template:")
    for line in pod_template(as_map(spec.get("template"))):
        out.line(line)
    _conditions(status, out, wide=True)
    _problems(problems, out)
    _events(store, REPLICA_SET, doc, now, out)


def _problems(problems: list[str], out: Output) -> None:
    if problems:
        out.line("Problems:")
        for problem in problems:
            out.line(f"  {problem}")

