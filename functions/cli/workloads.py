"""ReplicaSets and Deployments as the CLI reads them: validation, selectors, revisions,
and which ReplicaSets a Deployment owns (docs/workloads.md).

Validation is the functions' own parser, so a manifest the CLI accepts is one they accept.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from functions.api.shapes import as_map

if TYPE_CHECKING:
    from functions.cli.kinds import Kind
    from functions.store import Doc, Store

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


# -- reading --------------------------------------------------------------------------


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
    """A template with no ``pod-template-hash`` label, as the controller strips it."""
    from functions.api.podtemplatehash import without_hash as stripped

    return copy.deepcopy(as_map(stripped(template)))


def same_template(a: Any, b: Any) -> bool:
    """The controller's own EqualIgnoreHash (an empty map counts as unset), so the CLI's
    "already matches" and "new ReplicaSet" are the controller's."""
    from functions.api.podtemplatehash import equal_ignore_hash

    return equal_ignore_hash(a, b)


def controller_of(data: dict[str, Any]) -> dict[str, Any] | None:
    from functions.pod_policy import controller_reference

    return controller_reference(data)


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
