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
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.api import shapes
from functions.api.kinds import CONTROLLER, Kind
from functions.api.pod import current_spellings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# firecontrol's own bookkeeping in ``status``, which Kubernetes has no field for: listed
# here once, by kind, and served under this annotation as JSON text, so a Kubernetes
# client (which drops fields its models do not know) loses nothing and sees no stranger.
STATUS_ANNOTATION = shapes.STATUS_ANNOTATION
_CONTROLLER_STATUS = (
    "specHash",  # the spec the generation was last advanced for
    "finishedPods",  # the Failed / Succeeded pods it keeps
    "slowStart",  # slow-start batches across passes
    "templateHash", "templateSince",  # the template the backstop watches, and since when
)
BOOKKEEPING: dict[str, tuple[str, ...]] = {
    "Pod": (
        "vmFingerprint",  # pairs the pod with its RUNNING VM (functions/fingerprint.py)
        "vmZone", "vmMachineType", "vmId", "vmAgent",  # the VM as it was made
        "terminationStarted",  # graceful termination asked of the agent
        "createAttempts", "nextAttemptTime",  # back-off of a VM that could not be made
    ),
    "ReplicationController": _CONTROLLER_STATUS,
    "ReplicaSet": _CONTROLLER_STATUS,
    "Deployment": ("specHash", "selectorHash"),
    "Service": (
        "loadBalancerName",  # the load balancer this service uses
        "portMap",  # service ports -> target ports on the pods' VMs
    ),
}


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


def _template_labels(obj: dict[str, Any]) -> dict[str, Any]:
    spec = shapes.as_map(obj.get("spec"))
    return shapes.as_map(shapes.as_map(shapes.as_map(spec.get("template")).get("metadata")).get("labels"))


def labels_of(kind: Kind, data: dict[str, Any]) -> dict[str, Any]:
    """The labels a stored document is served with (either shape; a ReplicationController
    without labels of its own has its template's), for label selectors over documents."""
    v1 = shapes.as_v1(kind, data)
    labels = shapes.as_map(shapes.as_map(v1.get("metadata")).get("labels"))
    return labels or (_template_labels(v1) if kind is CONTROLLER else {})


def _defaults(kind: Kind, obj: dict[str, Any]) -> None:
    """What the apiserver would have defaulted on write and a client expects to see: a
    ReplicationController's selector, and its labels when it has none, from its
    template's labels (``SetDefaults_ReplicationController``); a pod's addresses under
    Kubernetes' names (documents written before issue 13 have ``podIp``)."""
    spec, status = obj.get("spec"), obj.get("status")
    if kind is CONTROLLER and isinstance(spec, dict):
        labels = _template_labels(obj)
        if labels and not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = obj.get("metadata")
        if labels and not shapes.as_map(shapes.as_map(meta).get("labels")):
            obj["metadata"] = {**shapes.as_map(meta), "labels": dict(labels)}
    if kind.kind == "Pod" and isinstance(status, dict):
        status = obj["status"] = current_spellings(status)
        for one, many in (("podIP", "podIPs"), ("hostIP", "hostIPs")):
            if isinstance(status.get(one), str) and status[one] and many not in status:
                status[many] = [{"ip": status[one]}]


def with_defaults(kind: Kind, data: dict[str, Any]) -> dict[str, Any]:
    """The v1 shape of a stored document with what the apiserver would have defaulted (a
    copy): for displays that read the document as it is, bookkeeping included (describe)."""
    obj: dict[str, Any] = copy.deepcopy(shapes.as_v1(kind, data))
    _defaults(kind, obj)
    return obj


def _bookkeeping_apart(kind: Kind, obj: dict[str, Any]) -> None:
    """``BOOKKEEPING`` fields out of ``status``, into the ``firecontrol.io/status`` annotation."""
    status = obj.get("status")
    fields = BOOKKEEPING.get(kind.kind, ())
    if not isinstance(status, dict) or not fields:
        return
    own = {key: status.pop(key) for key in fields if key in status}
    own = {key: value for key, value in own.items() if value is not None}
    if not own:
        return
    meta = obj["metadata"]
    annotations = meta.get("annotations")
    annotations = dict(annotations) if isinstance(annotations, dict) else {}
    annotations[STATUS_ANNOTATION] = json.dumps(_plain(own), sort_keys=True, separators=(",", ":"))
    meta["annotations"] = annotations


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
    _defaults(kind, obj)
    _bookkeeping_apart(kind, obj)
    ordered: dict[str, Any] = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    ordered.update({k: v for k, v in obj.items() if k not in ordered})
    result: dict[str, Any] = _plain(ordered)
    return result
