"""``rollout status|history|undo|restart|pause|resume deployment/NAME``, as kubectl.

Everything is read from the documents: the Deployment's status as its controller
writes it, and the history from the ReplicaSets it owns (their revision annotations).
Every write is one guarded update of the Deployment (its update time), decided again
from a fresh read if the controller wrote meanwhile; the controller does the rest.
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.api.shapes import as_int, as_list, as_map
from functions.cli import workloads
from functions.cli.changes import commit_retrying, must_read
from functions.cli.describe_workloads import pod_template
from functions.cli.errors import CliError
from functions.cli.kinds import DEPLOYMENT
from functions.cli.output import Output, rfc3339

if TYPE_CHECKING:
    from functions.store import Doc, Store, Write

POLL = 0.25
TIMED_OUT = "ProgressDeadlineExceeded"
# The pass's condition for a spec it cannot parse (docs/workloads.md): reported, not waited on.
FAILURE, INVALID = "ReplicaFailure", "InvalidSpec"
# Annotations of a ReplicaSet that describe it, not its template: never copied back.
SKIPPED_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration", workloads.REVISION,
    "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to",
}


# -- status ---------------------------------------------------------------------------


def observed(data: dict[str, Any]) -> bool:
    """Whether the controller has seen this spec: kubectl's generation check, and, as the
    generation here is advanced by the pass (not on write), the spec's hash against the
    one the pass recorded."""
    from functions.api.controller import spec_hash

    meta, status = as_map(data.get("metadata")), as_map(data.get("status"))
    if "observedGeneration" not in status and "specHash" not in status:
        return False  # no pass has written its status yet (kubectl: generation 1, observed 0)
    generation, seen = meta.get("generation", 0), status.get("observedGeneration", 0)
    if not isinstance(generation, int) or not isinstance(seen, int) or generation > seen:
        return False
    recorded = status.get("specHash")
    return recorded is None or recorded == spec_hash(data.get("spec"))


def status_message(name: str, data: dict[str, Any], revision: int = 0) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer: (message, done); a CliError when it failed."""
    if revision > 0:
        running = workloads.revision(data)
        if running is None:
            raise CliError(f'error: cannot get the revision of deployment "{name}"')
        if running != revision:
            raise CliError(f"error: desired revision ({revision}) is different from the running revision ({running})")
    if not observed(data):
        return "Waiting for deployment spec update to be observed...", False
    spec, status = as_map(data.get("spec")), as_map(data.get("status"))
    conditions = [as_map(c) for c in as_list(status.get("conditions"))]
    invalid = next((c for c in conditions if c.get("type") == FAILURE and c.get("reason") == INVALID), None)
    if invalid is not None and invalid.get("status") != "False":
        # The pass records the spec as observed without rolling anything: never "rolled out".
        raise CliError(f'error: deployment "{name}" is invalid: {invalid.get("message") or INVALID}')
    progressing = next((c for c in conditions if c.get("type") == "Progressing"), {})
    if progressing.get("reason") == TIMED_OUT:
        raise CliError(f'error: deployment "{name}" exceeded its progress deadline')
    replicas = as_int(spec.get("replicas", 1))
    if replicas is None:
        raise CliError(f'error: deployment "{name}" is invalid: spec.replicas must be a whole number, '
                       f"not {spec.get('replicas')!r:.60}")
    updated, total, available = (as_int(status.get(k, 0)) or 0 for k in ("updatedReplicas", "replicas", "availableReplicas"))
    if updated < replicas:
        return f'Waiting for deployment "{name}" rollout to finish: {updated} out of {replicas} new replicas have been updated...', False
    if total > updated:
        return f'Waiting for deployment "{name}" rollout to finish: {total - updated} old replicas are pending termination...', False
    if available < updated:
        return f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} updated replicas are available...', False
    return f'deployment "{name}" successfully rolled out', True


def status(
    store: Store, name: str, namespace: str, watch: bool, timeout: float, revision: int, out: Output,
) -> int:
    """Print each new message until done; exit 1 on a deadline exceeded or ``timeout`` (0: none)."""
    if revision < 0:
        raise CliError(f"error: revision must be a positive integer: {revision}")
    deadline = time.monotonic() + timeout if timeout > 0 else None
    last = None
    doc = must_read(store, DEPLOYMENT, namespace, name)
    while True:
        message, done = status_message(name, doc.data, revision)
        if message != last:
            out.line(message)
            last = message
        if done or not watch:
            return 0
        if deadline is not None and time.monotonic() >= deadline:
            raise CliError("error: timed out waiting for the condition")
        time.sleep(POLL if deadline is None else max(0.0, min(POLL, deadline - time.monotonic())))
        fresh = store.get(doc.path)
        if fresh is None:
            raise CliError("error: object has been deleted")
        doc = fresh


# -- history and undo ------------------------------------------------------------------


def history_of(store: Store, deployment: Doc) -> dict[int, Doc]:
    """Revision -> ReplicaSet, as kubectl's DeploymentHistoryViewer collects them."""
    found: dict[int, Doc] = {}
    for rs in workloads.replica_sets_of(store, deployment):
        number = workloads.revision(rs.data)
        if number is not None:
            found[number] = rs
    return found


def _change_cause(rs: Doc) -> str:
    cause = workloads.annotations_of(rs.data).get(workloads.CHANGE_CAUSE)
    return str(cause) if cause else ""


def history(store: Store, name: str, namespace: str, revision: int, out: Output) -> int:
    if revision < 0:
        raise CliError(f"error: revision must be a positive integer: {revision}")
    deployment = must_read(store, DEPLOYMENT, namespace, name)
    found = history_of(store, deployment)
    ref = DEPLOYMENT.ref(name)
    if revision > 0:
        if revision not in found:
            raise CliError("error: unable to find the specified revision")
        template = copy.deepcopy(as_map(as_map(found[revision].data.get("spec")).get("template")))
        cause = _change_cause(found[revision])
        if cause:
            meta = template.setdefault("metadata", {})
            meta["annotations"] = {**as_map(meta.get("annotations")), workloads.CHANGE_CAUSE: cause}
        out.line(f"{ref} with revision #{revision}")
        out.line("Pod Template:")
        for line in pod_template(template):
            out.line(line)
        return 0
    out.line(ref)
    if not found:
        out.line("No rollout history found.")
        return 0
    width = max(len("REVISION"), *(len(str(r)) for r in found)) + 2
    out.line(f"{'REVISION':<{width}}CHANGE-CAUSE")
    for number in sorted(found):
        out.line(f"{number:<{width}}{_change_cause(found[number]) or '<none>'}")
    return 0


def _target_revision(deployment: Doc, found: dict[int, Doc], to_revision: int) -> tuple[int, Doc]:
    """kubectl's deploymentRevision: the given one, or the second newest."""
    if to_revision > 0:
        if to_revision not in found:
            raise CliError(f"error: unable to find specified revision {to_revision} in history")
        return to_revision, found[to_revision]
    if len(found) < 2:
        raise CliError(f'error: no rollout history found for deployment "{deployment.name}"')
    previous = sorted(found)[-2]
    return previous, found[previous]


def undo(store: Store, name: str, namespace: str, to_revision: int, out: Output) -> int:
    """Copy the revision's template (without its hash label) and change-cause into the Deployment."""
    from functions.store import Update

    if to_revision < 0:
        raise CliError(f"error: unable to find specified revision {to_revision} in history")
    outcome = "rolled back"

    def decide() -> list[Write]:
        nonlocal outcome
        deployment = must_read(store, DEPLOYMENT, namespace, name)
        number, rs = _target_revision(deployment, history_of(store, deployment), to_revision)
        spec = as_map(deployment.data.get("spec"))
        if spec.get("paused") is True:
            raise CliError("error: you cannot rollback a paused deployment; resume it first with "
                           "'rollout resume' and try again")
        template = as_map(as_map(rs.data.get("spec")).get("template"))
        if workloads.same_template(template, spec.get("template")):
            outcome = f"skipped rollback (current template already matches revision {number})"
            return []
        outcome = "rolled back"
        notes = {k: v for k, v in workloads.annotations_of(deployment.data).items() if k != workloads.CHANGE_CAUSE}
        notes.update({k: v for k, v in workloads.annotations_of(rs.data).items() if k not in SKIPPED_ANNOTATIONS})
        return [Update(deployment.path, {"spec.template": workloads.without_hash(template), "metadata.annotations": notes},
                       if_updated_at=deployment.update_time)]

    commit_retrying(store, decide)
    out.line(f"{DEPLOYMENT.ref(name)} {outcome}")
    return 0


# -- restart, pause, resume ----------------------------------------------------------------


def restart(store: Store, name: str, namespace: str, out: Output) -> int:
    """A new template annotation, so the controller rolls every pod (kubectl's restartedAt)."""
    from functions.store import Update

    def decide() -> list[Write]:
        deployment = must_read(store, DEPLOYMENT, namespace, name)
        spec = as_map(deployment.data.get("spec"))
        if spec.get("paused") is True:
            raise CliError(f'error: {DEPLOYMENT.qualified} "{name}" can\'t restart paused deployment '
                           "(run rollout resume first)")
        template = copy.deepcopy(as_map(spec.get("template")))
        meta = template.setdefault("metadata", {})
        stamp = rfc3339(datetime.now(UTC).replace(microsecond=0))
        meta["annotations"] = {**as_map(meta.get("annotations")), workloads.RESTARTED_AT: stamp}
        return [Update(deployment.path, {"spec.template": template}, if_updated_at=deployment.update_time)]

    commit_retrying(store, decide)
    out.line(f"{DEPLOYMENT.ref(name)} restarted")
    return 0


def set_paused(store: Store, name: str, namespace: str, paused: bool, out: Output) -> int:
    """``spec.paused``; kubectl's error when it already is (or is not)."""
    from functions.store import Update

    def decide() -> list[Write]:
        deployment = must_read(store, DEPLOYMENT, namespace, name)
        if (as_map(deployment.data.get("spec")).get("paused") is True) == paused:
            problem = "is already paused" if paused else "is not paused"
            raise CliError(f'error: {DEPLOYMENT.qualified} "{name}" {problem}')
        return [Update(deployment.path, {"spec.paused": paused}, if_updated_at=deployment.update_time)]

    commit_retrying(store, decide)
    out.line(f"{DEPLOYMENT.ref(name)} {'paused' if paused else 'resumed'}")
    return 0
