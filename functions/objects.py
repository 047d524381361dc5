"""What every kind of object shares: its uid, its events, its conditions, and the
guarded pass, which also keeps a document from outgrowing Firestore's size limit."""

from __future__ import annotations

import calendar
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from google.api_core import exceptions as gexc

from functions.api.names import short_hash
from functions.logs import ref_fields
from functions.store import (
    MAX_DOCUMENT_BYTES,
    Create,
    Doc,
    RecordEvent,
    StaleWrite,
    Store,
    Update,
    Write,
    doc_path,
    document_size,
    stored_size,
)

log = logging.getLogger("firecontrol.objects")

R = TypeVar("R")


class Contention(Exception):
    """Too many concurrent writers: let the platform retry the invocation."""


class Retry(Exception):
    """A guarded write was stale: read again and decide again."""


class WriteRefused(Exception):
    """Firestore would refuse (or refused) a pass's write for good, e.g. the document
    would outgrow its size limit: said on the object, and the pass ends."""


# The condition a refused write leaves on the object (its status could not be written).
STATUS_WRITTEN = "StatusWritten"
TOO_LARGE = "DocumentTooLarge"


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


def same_data(a: Any, b: Any) -> bool:
    """Equal as stored: ``1.0 == 1`` in Python, not in Firestore (a sum of doubles is a double)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


class GuardedSync(Generic[R]):
    """One object's pass: read it, act, commit guarded by its ``update_time``; on a stale
    commit read again and decide again, a few times, then let the platform retry."""

    kind: ClassVar[str]
    collection: ClassVar[str]
    attempts: ClassVar[int] = 8

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store, self.clock = store, clock
        self.doc: Doc | None = None  # as the pass read it: what its writes' sizes are judged on

    def absent(self) -> R:
        raise NotImplementedError

    def one_pass(self, doc: Doc) -> R:
        raise NotImplementedError

    def refused(self, doc: Doc, message: str) -> R:
        """The pass's result when its write was refused (and said so on the object)."""
        return self.absent()

    def run(self, namespace: str, name: str) -> R:
        path = doc_path(namespace, self.collection, name)
        for _attempt in range(self.attempts):
            doc = self.store.get(path)
            if doc is None:
                return self.absent()
            self.doc = doc
            try:
                return self.one_pass(doc)
            except Retry:
                continue
            except WriteRefused as refused:
                return self.refused(doc, str(refused))
        raise Contention(f"{self.kind} {namespace}/{name}: no pass committed in {self.attempts} attempts")

    def commit(self, writes: Sequence[Write]) -> None:
        """Commit the pass's writes, guarded. One Firestore would refuse for good (the
        document would outgrow 1 MiB) is not tried again and again: the object gets a
        ``StatusWritten`` condition (reason ``DocumentTooLarge``) and a Warning event,
        and ``WriteRefused`` ends the pass."""
        doc = self.doc
        writes = [_clear_refusal(w) if doc is not None and isinstance(w, Update) and w.path == doc.path else w
                  for w in writes]
        problem = _too_large(doc, writes)
        if problem is None:
            try:
                self.store.commit(writes, self.clock())
                return
            except StaleWrite:
                raise Retry() from None
            except gexc.InvalidArgument as error:
                problem = f"Firestore refused the write: {error.message}"
        if doc is None:
            raise WriteRefused(problem)
        self._report_refusal(doc, problem)
        raise WriteRefused(problem)

    def _report_refusal(self, doc: Doc, problem: str) -> None:
        """The condition, if a small update of it fits, and an event (its own document)."""
        reason = TOO_LARGE if "size" in problem or "bytes" in problem else "WriteRefused"
        message = f"not written: {problem}"[:1000]
        log.warning("write refused", extra=ref_fields(self.kind, doc.namespace, doc.name, reason=reason, error=problem))
        status = doc.data.get("status")
        conditions = status.get("conditions") if isinstance(status, dict) else None
        conditions = [c for c in conditions if isinstance(c, dict)] if isinstance(conditions, list) else []
        old = next((c for c in conditions if c.get("type") == STATUS_WRITTEN), None)
        if old is not None and (old.get("reason"), old.get("message")) == (reason, message):
            return  # said already: no write at all, however often the pass runs
        event = self.event(doc, reason, message, "Warning")
        writes: list[Write] = [event]
        condition = {"type": STATUS_WRITTEN, "status": "False", "reason": reason, "message": message,
                     "lastTransitionTime": self.clock()}
        update = Update(doc.path, {"status.conditions": [*(c for c in conditions if c is not old), condition]},
                        doc.update_time)
        if (status is None or isinstance(status, dict)) and _too_large(doc, [update]) is None:
            writes.insert(0, update)
        try:
            self.store.commit(writes, self.clock())
        except (StaleWrite, gexc.InvalidArgument):
            self.store.record([event], self.clock())  # changed since read, or still too big: the event alone

    def event(self, doc: Doc, reason: str, message: str, type_: str = "Normal") -> RecordEvent:
        return event_for(self.kind, doc.namespace, doc.name, doc_uid(doc), reason, message, type_)


def _too_large(doc: Doc | None, writes: Sequence[Write]) -> str | None:
    """Why a write would make a document outgrow Firestore's limit, or None."""
    for write in writes:
        if isinstance(write, Create):
            size = document_size(write.path, write.data)
        elif isinstance(write, Update) and doc is not None and write.path == doc.path:
            size = _size_after(doc, write.fields)
        else:
            continue
        if size > MAX_DOCUMENT_BYTES:
            return f"the document would be {size:,} bytes, over Firestore's {MAX_DOCUMENT_BYTES:,}-byte limit; make it smaller"
    return None


def _size_after(doc: Doc, fields: dict[str, Any]) -> int:
    """The document's size with ``fields`` (dotted paths) set, as Firestore counts it."""
    before = document_size(doc.path, doc.data)
    if before + sum(stored_size(path) + stored_size(value) for path, value in fields.items()) <= MAX_DOCUMENT_BYTES:
        return before  # fits whatever the fields replace: no need to look closer
    data = dict(doc.data)
    for path, value in fields.items():
        keys = path.split(".")
        target = data
        for key in keys[:-1]:
            inner = target.get(key)
            target[key] = dict(inner) if isinstance(inner, dict) else {}
            target = target[key]
        target[keys[-1]] = value
    return document_size(doc.path, data)


def _clear_refusal(write: Update) -> Update:
    """A status write that goes through no longer carries an earlier refusal's condition."""
    status = write.fields.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    if not isinstance(conditions, list) or not any(
        isinstance(c, dict) and c.get("type") == STATUS_WRITTEN for c in conditions
    ):
        return write
    kept = [c for c in conditions if not (isinstance(c, dict) and c.get("type") == STATUS_WRITTEN)]
    assert isinstance(status, dict)
    return Update(write.path, {**write.fields, "status": {**status, "conditions": kept}}, write.if_updated_at)
