"""What every kind of object shares: its uid, its events, its conditions."""

from __future__ import annotations

import calendar
import uuid
from datetime import datetime

from functions.api.meta import Condition
from functions.api.names import short_hash
from functions.store import RecordEvent


def object_uid(path: str, create_time: datetime) -> str:
    """An object's uid: the same for the document's whole life, new if it is recreated.

    Derived from the path and the document's create time, so it survives a user
    overwriting the document without ``metadata.uid`` and needs no extra write.
    """
    seconds = calendar.timegm(create_time.utctimetuple())
    nanos = getattr(create_time, "nanosecond", None)
    if nanos is None:
        nanos = create_time.microsecond * 1000
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"firecontrol:{path}@{seconds}.{nanos:09d}"))


def event_for(
    kind: str, namespace: str, name: str, uid: str, reason: str, message: str, type_: str = "Normal"
) -> RecordEvent:
    """An event whose id repeats for the same object, reason and message, so it is counted."""
    return RecordEvent(
        namespace=namespace,
        event_id=f"{name}.{short_hash(f'{kind}/{uid}/{reason}/{message}', 12)}",
        involved={"kind": kind, "namespace": namespace, "name": name, "uid": uid, "apiVersion": "v1"},
        reason=reason,
        message=message,
        type=type_,
    )


def set_condition(
    conditions: list[Condition], type_: str, new: Condition | None, now: datetime
) -> list[Condition]:
    """Replace (or with None remove) the condition of one type, keeping its transition
    time while its status stays the same."""
    old = next((c for c in conditions if c.type == type_), None)
    rest = [c for c in conditions if c.type != type_]
    if new is None:
        return rest
    unchanged = old is not None and old.status == new.status
    since = (old.last_transition_time if old is not None else None) if unchanged else None
    return [*rest, new.model_copy(update={"last_transition_time": since or now})]
