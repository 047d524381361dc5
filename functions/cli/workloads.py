"""ReplicaSets and Deployments as the CLI reads them: validation, selectors, revisions,
and which ReplicaSets a Deployment owns (docs/workloads.md).

Validation is the functions' own parser (``functions.api.parse.parse_replica_set`` /
``parse_deployment``) when it is there, so the CLI and the functions agree; until it is,
a check of the same rules here: the template through the replication controller's
parser, the selector through ``LabelSelector``, the strategy as Kubernetes validates it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from functions.cli.shapes import as_list, as_map

if TYPE_CHECKING:
    from functions.cli.kinds import Kind
    from functions.store import Doc, Store

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
API_VERSION = "apps/v1"
_PERCENT = re.compile(r"^(0|[1-9][0-9]*)%$")


@dataclass(frozen=True)
class Checked:
    """What a ``Parsed`` gives the CLI: the messages, and the fields it does not know."""

    errors: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _api_parser(name: str) -> Any:
    from functions.api import parse

    return getattr(parse, name, None)


def validate_replica_set(doc: Any, namespace: str, name: str, max_replicas: int) -> Any:
    parser = _api_parser("parse_replica_set")
    if parser is not None:
        return parser(doc, namespace, name, max_replicas)
    return _check(doc, "ReplicaSet", namespace, name, max_replicas)


def validate_deployment(doc: Any, namespace: str, name: str, max_replicas: int) -> Any:
    parser = _api_parser("parse_deployment")
    if parser is not None:
        return parser(doc, namespace, name, max_replicas)
    checked = _check(doc, "Deployment", namespace, name, max_replicas)
    if isinstance(doc, dict):
        checked.errors.extend(_deployment_problems(as_map(doc.get("spec"))))
    return checked


def _check(doc: Any, kind: str, namespace: str, name: str, max_replicas: int) -> Checked:
    """The rules common to both: kind, apiVersion, name, replicas, selector, template."""
    from pydantic import ValidationError

    from functions.api.base import error_messages
    from functions.api.parse import parse_controller
    from functions.api.selector import LabelSelector

    if not isinstance(doc, dict):
        return Checked([f"(document): must be a map, not {type(doc).__name__}"])
    errors: list[str] = []
    if doc.get("kind", kind) != kind:
        errors.append(f"kind: {doc.get('kind')!r:.80} is not {kind!r}")
    if doc.get("apiVersion", API_VERSION) != API_VERSION:
        errors.append(f"apiVersion: {doc.get('apiVersion')!r:.80} is not supported; use {API_VERSION!r}")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return Checked([*errors, "spec: required, a map"])
    selector: LabelSelector | None = None
    raw_selector = spec.get("selector")
    if not isinstance(raw_selector, dict):
        errors.append("spec.selector: Required value")
    else:
        try:
            selector = LabelSelector.model_validate(raw_selector)
        except ValidationError as error:
            errors += error_messages(error, "spec.selector")
        else:
            if selector.empty:
                errors.append("spec.selector: Invalid value: empty selector is invalid for deployment")
                selector = None
    template = as_map(spec.get("template"))
    labels = {k: v for k, v in as_map(as_map(template.get("metadata")).get("labels")).items() if isinstance(v, str)}
    if selector is not None and not selector.matches(labels):
        errors.append("spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`")
    # The template and replicas through the controller's parser: the same rules for pods.
    rc_spec = {k: v for k, v in spec.items() if k in ("replicas", "template")}
    rc_spec["selector"] = labels or {"": ""}
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": doc.get("metadata", {}), "spec": rc_spec}
    parsed = parse_controller(rc, namespace, name, max_replicas)
    errors += [e for e in parsed.errors if not e.startswith("spec.selector")]
    return Checked(errors, list(parsed.unknown))


def _int_or_percent(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or (
        isinstance(value, str) and _PERCENT.match(value) is not None
    )


def _deployment_problems(spec: dict[str, Any]) -> list[str]:
    """Kubernetes' ValidateDeploymentSpec for what the template checks do not cover."""
    problems: list[str] = []
    strategy = spec.get("strategy", {})
    if not isinstance(strategy, dict):
        return ["spec.strategy: must be a map"]
    kind = strategy.get("type", "RollingUpdate")
    rolling = strategy.get("rollingUpdate")
    if kind not in ("RollingUpdate", "Recreate"):
        problems.append(f'spec.strategy.type: Unsupported value: {kind!r:.40}: supported values: "Recreate", "RollingUpdate"')
    elif kind == "Recreate" and rolling is not None:
        problems.append("spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'")
    elif rolling is not None:
        rolling = as_map(rolling)
        surge, unavailable = rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%")
        for key, value in (("maxSurge", surge), ("maxUnavailable", unavailable)):
            if not _int_or_percent(value):
                problems.append(f"spec.strategy.rollingUpdate.{key}: Invalid value: {value!r:.40}: "
                                "must be a non-negative integer or a percentage like '25%'")
        if str(surge).rstrip("%") == "0" and str(unavailable).rstrip("%") == "0":
            problems.append("spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0")
        if isinstance(unavailable, str) and _PERCENT.match(unavailable) and int(unavailable[:-1]) > 100:
            problems.append("spec.strategy.rollingUpdate.maxUnavailable: Invalid value: must not be greater than 100%")
    for key in ("minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            problems.append(f"spec.{key}: Invalid value: {value!r:.40}: must be a non-negative integer")
    deadline, ready = spec.get("progressDeadlineSeconds", 600), spec.get("minReadySeconds", 0)
    if isinstance(deadline, int) and isinstance(ready, int) and deadline <= ready:
        problems.append("spec.progressDeadlineSeconds: Invalid value: must be greater than minReadySeconds")
    if "paused" in spec and not isinstance(spec["paused"], bool):
        problems.append("spec.paused: must be true or false")
    return problems


# -- reading --------------------------------------------------------------------------


def selector_text(raw: Any) -> str:
    """kubectl's text of a stored selector of either kind (a v1 map or a LabelSelector)."""
    from pydantic import ValidationError

    from functions.api.selector import LabelSelector

    if isinstance(raw, dict) and not ({"matchLabels", "matchExpressions"} & raw.keys()):
        raw = {"matchLabels": raw}
    try:
        return LabelSelector.model_validate(as_map(raw)).text()
    except ValidationError:
        return "<invalid>"


def selects(raw: Any, labels: dict[str, Any]) -> bool:
    """Whether a stored selector (either kind) selects these labels; a bad one: no."""
    from pydantic import ValidationError

    from functions.api.selector import LabelSelector

    if isinstance(raw, dict) and not ({"matchLabels", "matchExpressions"} & raw.keys()):
        raw = {"matchLabels": raw}
    try:
        selector = LabelSelector.model_validate(as_map(raw))
    except ValidationError:
        return False
    return selector.matches({k: v for k, v in labels.items() if isinstance(v, str)})


def annotations_of(data: dict[str, Any]) -> dict[str, Any]:
    return as_map(as_map(data.get("metadata")).get("annotations"))


def revision(data: dict[str, Any]) -> int | None:
    value = annotations_of(data).get(REVISION)
    try:
        return int(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    except ValueError:
        return None


def without_hash(template: Any) -> dict[str, Any]:
    """A template with no ``pod-template-hash`` label (Kubernetes' EqualIgnoreHash)."""
    copied = copy.deepcopy(as_map(template))
    labels = as_map(as_map(copied.get("metadata")).get("labels"))
    labels.pop(HASH_LABEL, None)
    return copied


def same_template(a: Any, b: Any) -> bool:
    return without_hash(a) == without_hash(b)


def controller_of(data: dict[str, Any]) -> dict[str, Any] | None:
    refs = as_list(as_map(data.get("metadata")).get("ownerReferences"))
    return next((as_map(r) for r in refs if as_map(r).get("controller") is True), None)


def owned_by(data: dict[str, Any], kind: str, owner: Doc) -> bool:
    """The document's controller is this owner (by uid when both have one, else by name)."""
    ref = controller_of(data)
    if ref is None or ref.get("kind") != kind or ref.get("name") != owner.name:
        return False
    uid = as_map(owner.data.get("metadata")).get("uid")
    return not uid or not ref.get("uid") or ref.get("uid") == uid


def replica_sets_of(store: Store, deployment: Doc) -> list[Doc]:
    """The ReplicaSets the Deployment controls, oldest first."""
    from functions.cli import reads
    from functions.cli.kinds import REPLICA_SET

    found = [d for d in reads.list_docs(store, REPLICA_SET, deployment.namespace)
             if owned_by(d.data, "Deployment", deployment)]
    return sorted(found, key=lambda d: (d.create_time, d.name))


def new_and_old(deployment: Doc, replica_sets: list[Doc]) -> tuple[Doc | None, list[Doc]]:
    """The ReplicaSet whose template is the Deployment's (the oldest such), and the others."""
    template = as_map(deployment.data.get("spec")).get("template")
    new = next((rs for rs in replica_sets if same_template(as_map(rs.data.get("spec")).get("template"), template)), None)
    return new, [rs for rs in replica_sets if rs is not new]


def pods_of(store: Store, kind: Kind, owner: Doc) -> list[Doc]:
    """The pods the owner controls."""
    from functions.cli import reads
    from functions.cli.kinds import POD

    return [p for p in reads.list_docs(store, POD, owner.namespace) if owned_by(p.data, kind.kind, owner)]
