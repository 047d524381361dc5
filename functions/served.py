"""A stored document as a Kubernetes object: what ``kube_api`` serves and what
``get -o json|yaml`` prints.

One codec, so both doors show the same object: the v1 shape (2014 documents converted
as the parsers convert them), ``apiVersion`` and ``kind`` set, ``metadata.uid`` as the
functions derive it, ``metadata.resourceVersion`` from the document's update time
(the same time every guarded write is conditioned on), timestamps as RFC 3339, and
firecontrol's own bookkeeping kept apart from the Kubernetes fields (docs/kube-api.md).
"""

from __future__ import annotations

import calendar
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.api import shapes
from functions.api.kinds import Kind

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def resource_version(update_time: datetime) -> str:
    """The document's update time in microseconds since the epoch, as text (opaque to
    clients, ordered for us)."""
    seconds = calendar.timegm(update_time.utctimetuple())
    return str(seconds * 1_000_000 + update_time.microsecond)


def update_time_of(version: str) -> datetime | None:
    """The update time a resourceVersion names; None if it is not one of ours."""
    if not version.isdigit() or len(version) > 19:
        return None
    return EPOCH + timedelta(microseconds=int(version))


def rfc3339(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plain(value: Any) -> Any:
    """Firestore values as JSON values: timestamps become RFC 3339 text."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return value


def served_object(
    kind: Kind, data: dict[str, Any], path: str, create_time: datetime, update_time: datetime
) -> dict[str, Any]:
    """The Kubernetes object a stored document is (see the module docstring)."""
    from functions.objects import object_uid

    obj: dict[str, Any] = copy.deepcopy(shapes.as_v1(kind, data))
    obj["apiVersion"] = f"{kind.group}/v1" if kind.group else "v1"
    obj["kind"] = kind.kind
    raw_meta = obj.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    parts = path.split("/")
    meta["name"] = parts[-1]
    meta["namespace"] = parts[1]
    uid = meta.get("uid")
    meta["uid"] = uid if isinstance(uid, str) and uid else object_uid(path, create_time)
    meta["resourceVersion"] = resource_version(update_time)
    created = meta.get("creationTimestamp")
    meta["creationTimestamp"] = created if isinstance(created, datetime) else create_time
    obj["metadata"] = meta
    if obj.get("status") is None:
        obj.pop("status", None)
    obj.pop("expireAt", None)  # Firestore's TTL field on events, not the object's
    ordered: dict[str, Any] = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    ordered.update({k: v for k, v in obj.items() if k not in ordered})
    result: dict[str, Any] = _plain(ordered)
    return result
