"""The checks a written object passes before the write path stores it: that it is the
route's object (``check_identity``), which fields Kubernetes does not know
(``fieldValidation``), and the generation rule (``next_generation``).

Pure, apart from the 400 each raises: kept apart from the verbs (``writes``) so the
namespace routes and the scale subresource apply the very same rules.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from functions.api import shapes
from functions.api.shapes import as_map
from functions.kubeapi import status
from functions.served import EPOCH, served_object

if TYPE_CHECKING:
    from functions.api.kinds import Kind
    from functions.kubeapi.resources import Resource


def check_identity(obj: dict[str, Any], resource: Resource, namespace: str | None, name: str | None) -> None:
    """The body names the route's kind, group/version, namespace and (PUT, PATCH) name;
    ``apiVersion``, ``kind`` and ``metadata.namespace`` are filled in when absent, as the
    apiserver's decoder defaults them from the URL."""
    api_version = obj.get("apiVersion") or resource.group_version
    kind = obj.get("kind") or resource.kind
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise status.bad_request(
            f"the object provided is unrecognized (must be of type {resource.kind}): "
            "apiVersion and kind must be strings"
        )
    if api_version != resource.group_version:
        raise status.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({resource.group_version})"
        )
    if kind != resource.kind:
        version = api_version.rsplit("/", 1)[-1]
        raise status.bad_request(
            f'{kind} in version "{version}" cannot be handled as a {resource.kind}: '
            f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})"
        )
    obj["apiVersion"], obj["kind"] = api_version, kind
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise status.bad_request(
            f"the object provided is unrecognized (must be of type {resource.kind}): metadata must be an object"
        )
    if namespace is not None:
        written = meta.get("namespace")
        if written not in (None, "", namespace):
            raise status.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = namespace
    if name is not None:
        written_name = meta.get("name")
        if written_name in (None, ""):
            meta["name"] = name
        elif written_name != name:
            raise status.bad_request(
                f"the name of the object ({written_name}) does not match the name on the URL ({name})"
            )


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def drop_path(obj: Any, path: str) -> None:
    """Remove the field a path names (``spec.containers[0].foo``), if it is there."""
    steps: list[str | int] = [m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _STEP.finditer(path)]
    node = obj
    for step in steps[:-1]:
        if isinstance(step, int):
            node = node[step] if isinstance(node, list) and 0 <= step < len(node) else None
        else:
            node = node.get(step) if isinstance(node, dict) else None
        if node is None:
            return
    last = steps[-1] if steps else None
    if isinstance(last, str) and isinstance(node, dict):
        node.pop(last, None)


def field_validation(
    resource: Resource, obj: dict[str, Any], option: str, current: dict[str, Any] | None = None,
) -> list[str]:
    """Fields Kubernetes itself does not know (the OpenAPI schema) that this write brings:
    Strict refuses them (400), Warn and Ignore drop them as the apiserver's decoder does,
    Warn says so. Those the object already has (``current``, as served: a Firestore client
    may write any field, DESIGN keeps them) are this write's no more than the rest of
    what it did not change: kept, and the parser's "kept but not used" says so."""
    from functions.kubeapi import openapi

    gvk = (resource.group, resource.version, resource.kind)
    stored = set(openapi.unknown_fields(gvk, current)) if current is not None else set()
    unknown = [p for p in openapi.unknown_fields(gvk, obj) if p not in stored]
    if unknown and option == "Strict":
        raise status.bad_request("strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown))
    for path in unknown:
        drop_path(obj, path)
    return [] if option == "Ignore" else [f'unknown field "{p}"' for p in unknown]


def spec_of(kind: Kind, data: dict[str, Any]) -> Any:
    """``spec`` as served (a 2014 document converted, defaults filled in), for the
    generation rule: writing down what was defaulted is no change."""
    return served_object(kind, data, "namespaces/-/-/-", EPOCH, EPOCH).get("spec")


def next_generation(kind: Kind, new: dict[str, Any], stored: dict[str, Any]) -> int | None:
    """The apiserver's rule: ``metadata.generation`` moves when ``spec`` changes. From
    whichever is ahead, the stored generation or what the passes observed (a document
    a Firestore client wrote without one still gets a new generation); None: unchanged."""
    if spec_of(kind, new) == spec_of(kind, stored):
        return None
    generation = shapes.as_int(as_map(stored.get("metadata")).get("generation")) or 0
    observed = shapes.as_int(as_map(stored.get("status")).get("observedGeneration")) or 0
    return max(generation, observed) + 1
