"""``set image KIND/NAME CONTAINER=IMAGE ...``: a new image in a pod template, as kubectl's
``set image`` writes it (``*`` for every container), guarded by the document's update time.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.api import shapes
from functions.api.shapes import as_list, as_map
from functions.cli.changes import ATTEMPTS, must_read
from functions.cli.errors import USAGE, CliError
from functions.cli.kinds import CONTROLLER, Kind
from functions.cli.output import Output

if TYPE_CHECKING:
    from functions.store import Store


def split_args(words: list[str]) -> tuple[list[str], dict[str, str]]:
    """kubectl's GetResourcesAndPairs: words with ``=`` are pairs, the others the object."""
    resource = [w for w in words if "=" not in w]
    pairs: dict[str, str] = {}
    for word in words:
        if "=" not in word:
            continue
        name, _, image = word.partition("=")
        if not name or not image:
            raise CliError(f"error: invalid image update {word!r}: use CONTAINER=IMAGE", code=USAGE)
        pairs[name] = image
    if not pairs:
        raise CliError("error: at least one image update is required", code=USAGE)
    if "*" in pairs and len(pairs) > 1:
        raise CliError("error: all containers are already specified by *, but saw more than one "
                       "container_name=container_image pairs", code=USAGE)
    return resource, pairs


def _containers(kind: Kind, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The template's containers, in place, in either shape of a controller."""
    if kind is CONTROLLER and shapes.is_legacy(CONTROLLER, data):
        manifest = as_map(as_map(as_map(as_map(data.get("desiredState")).get("podTemplate")).get("desiredState")).get("manifest"))
        return [c for c in as_list(manifest.get("containers")) if isinstance(c, dict)]
    template = as_map(as_map(data.get("spec")).get("template"))
    return [c for c in as_list(as_map(template.get("spec")).get("containers")) if isinstance(c, dict)]


def set_image(
    store: Store, kind: Kind, name: str, namespace: str, images: dict[str, str], max_replicas: int, out: Output,
) -> int:
    from functions.store import StaleWrite, Update

    for attempt in range(1, ATTEMPTS + 1):
        doc = must_read(store, kind, namespace, name)
        new = copy.deepcopy(doc.data)
        containers = _containers(kind, new)
        missing = [n for n in images if n != "*" and not any(c.get("name") == n for c in containers)]
        if "*" in images and not containers:
            missing.append("*")
        for container in containers:
            image = images.get("*", images.get(str(container.get("name"))))
            if image is not None:
                container["image"] = image
        errors = [f'error: unable to find container named "{n}"' for n in missing]
        field = "desiredState" if kind is CONTROLLER and shapes.is_legacy(CONTROLLER, doc.data) else "spec"
        if new.get(field) == doc.data.get(field):
            if errors:
                raise CliError(*errors)
            return 0  # kubectl: nothing changed, nothing printed
        problems = kind.validate(new, namespace, name, max_replicas).errors if kind.validate else []
        if problems:
            raise CliError(*errors, *(f"{kind.ref(name)}: {p}" for p in problems), "error: nothing was written")
        try:
            store.commit([Update(doc.path, {field: new[field]}, if_updated_at=doc.update_time)], datetime.now(UTC))
        except StaleWrite:
            if attempt == ATTEMPTS:
                raise CliError("error: the document kept changing while it was written; try again") from None
            continue
        out.line(f"{kind.ref(name)} image updated")
        if errors:
            raise CliError(*errors)
        return 0
    raise AssertionError("unreachable")
