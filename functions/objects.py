"""What every kind of object shares: its uid, its events, its conditions."""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from functions.api.meta import Condition
from functions.api.names import short_hash
from functions.store import Doc, RecordEvent, StaleWrite, Store, Write, doc_path

R = TypeVar("R")


class Contention(Exception):
    """Too many concurrent writers: let the platform retry the invocation."""


class Retry(Exception):
    """A guarded write was stale: read again and decide again."""


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


def doc_uid(doc: Doc) -> str:
    """The uid of a stored object: ``metadata.uid`` when it is a string, else derived.
    Cloud resources made for the object carry it, and are checked against it."""
    meta = doc.data.get("metadata")
    uid = meta.get("uid") if isinstance(meta, dict) else None
    return uid if isinstance(uid, str) and uid else object_uid(doc.path, doc.create_time)


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


class GuardedSync(Generic[R]):
    """One object's pass: read it, act, commit guarded by its ``update_time``; on a stale
    commit read again and decide again, a few times, then let the platform retry."""

    kind: ClassVar[str]
    collection: ClassVar[str]
    attempts: ClassVar[int] = 8

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store, self.clock = store, clock

    def absent(self) -> R:
        raise NotImplementedError

    def one_pass(self, doc: Doc) -> R:
        raise NotImplementedError

    def run(self, namespace: str, name: str) -> R:
        path = doc_path(namespace, self.collection, name)
        for _attempt in range(self.attempts):
            doc = self.store.get(path)
            if doc is None:
                return self.absent()
            try:
                return self.one_pass(doc)
            except Retry:
                continue
        raise Contention(f"{self.kind} {namespace}/{name}: no pass committed in {self.attempts} attempts")

    def commit(self, writes: Sequence[Write]) -> None:
        try:
            self.store.commit(writes, self.clock())
        except StaleWrite:
            raise Retry() from None

    def event(self, doc: Doc, reason: str, message: str, type_: str = "Normal") -> RecordEvent:
        return event_for(self.kind, doc.namespace, doc.name, doc_uid(doc), reason, message, type_)
