"""Reading a stored or written document whatever its shape (v1 or 2014), and the line
between what a user owns in it and what the functions own.

``apply`` replaces the user's part and keeps the functions' part, so re-applying a
manifest never erases a status, a uid, a finalizer or a pod's VM.
"""

from __future__ import annotations

import math
import re
from typing import Any

from functions.api.kinds import CONTROLLER, POD, SERVICE, Kind

# Written by the functions; a manifest cannot set them, apply keeps what is stored.
OWNED_METADATA = (
    "uid", "generation", "resourceVersion", "finalizers", "deletionTimestamp", "creationTimestamp",
)
OWNED_POD_METADATA = ("ownerReferences",)
OWNED_POD_SPEC = ("nodeName",)
# Served, never stored: firecontrol's bookkeeping as JSON (functions/served.py); a client
# writing back what it read sends it, and it is ignored.
STATUS_ANNOTATION = "firecontrol.io/status"
CONTROLLER_ANNOTATIONS = ("deployment.kubernetes.io/",)  # written by the Deployment controller  # the VM the pod runs on, set when it is made


def as_map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


_WHOLE = re.compile(r"\s*[+-]?[0-9]{1,18}\s*")


def as_int(value: Any) -> int | None:
    """A whole number however a client stored it (3, 3.0 or "3"); None for anything else
    (3.5, "three", true): any Firestore client may write any type in any field."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        return int(value)
    return None


def is_legacy(kind: Kind, data: dict[str, Any]) -> bool:
    from functions.api import legacy

    return (legacy.is_legacy_service if kind is SERVICE else legacy.is_legacy)(data)


def as_v1(kind: Kind, data: dict[str, Any]) -> dict[str, Any]:
    """The v1 shape of a document, for display: 2014 documents converted as the parsers do."""
    if kind not in (CONTROLLER, POD, SERVICE) or not is_legacy(kind, data):
        return data
    from functions.api import legacy

    convert = {
        CONTROLLER.kind: legacy.controller_from_legacy,
        POD.kind: legacy.pod_from_legacy,
        SERVICE.kind: legacy.service_from_legacy,
    }[kind.kind]
    return {**convert(data), "status": data.get("status")}


def name_of(data: Any) -> str | None:
    """metadata.name, or a 2014 document's ``id``."""
    if not isinstance(data, dict):
        return None
    name = as_map(data.get("metadata")).get("name", data.get("id"))
    return name if isinstance(name, str) else None


def namespace_of(data: dict[str, Any]) -> Any:
    """metadata.namespace (or a 2014 top-level ``namespace``); None when not given."""
    return data.get("namespace", as_map(data.get("metadata")).get("namespace"))


def labels_of(kind: Kind, data: dict[str, Any]) -> dict[str, Any]:
    return as_map(as_map(as_v1(kind, data).get("metadata")).get("labels"))


def merged(kind: Kind, written: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """The document to store: the user's fields from ``written``, the functions' from ``stored``."""
    stored = stored or {}
    doc = {k: v for k, v in written.items() if k not in ("status", "currentState")}
    owned_meta = OWNED_METADATA + (OWNED_POD_METADATA if kind is POD else ())
    meta = {k: v for k, v in as_map(written.get("metadata")).items() if k not in owned_meta}
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and STATUS_ANNOTATION in annotations:
        annotations = {k: v for k, v in annotations.items() if k != STATUS_ANNOTATION}
        if annotations or "annotations" in as_map(stored.get("metadata")):
            meta["annotations"] = annotations
        else:
            del meta["annotations"]
    meta.update({k: v for k, v in as_map(stored.get("metadata")).items() if k in owned_meta})
    kept = {k: v for k, v in as_map(as_map(stored.get("metadata")).get("annotations")).items()
            if isinstance(k, str) and k.startswith(CONTROLLER_ANNOTATIONS)}
    if kept:  # the Deployment controller's revision annotations survive a re-apply
        meta["annotations"] = {**kept, **as_map(meta.get("annotations"))}
    if meta or "metadata" in written:
        doc["metadata"] = meta
    kept = {k: v for k, v in as_map(stored.get("spec")).items() if k in OWNED_POD_SPEC} if kind is POD else {}
    if isinstance(doc.get("spec"), dict):
        doc["spec"] = {**doc["spec"], **kept}
    elif kept and "spec" not in doc:  # a 2014 pod: its VM is kept beside desiredState (legacy.py merges it)
        doc["spec"] = kept
    if "status" in stored:
        doc["status"] = stored["status"]
    return doc
