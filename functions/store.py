"""Firestore access: documents in, typed writes out, and the operations they cost.

Everything Firestore-specific stays here: paths, queries by label selector, the
guarded commit and the translation of Firestore's errors into ``StaleWrite`` (a
precondition failed: re-read and decide again). Callers describe writes as data
(``Create``, ``Update``, ``Delete``, ``RecordEvent``) and commit them at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import And, BaseFilter, FieldFilter, Or
from google.cloud.firestore_v1.field_path import FieldPath

from functions.api.selector import LabelSelector

CONTROLLERS = "replicationControllers"
REPLICA_SETS = "replicaSets"
DEPLOYMENTS = "deployments"
PODS = "pods"
SERVICES = "services"
EVENTS = "events"
QUOTAS = "resourceQuotas"
EVENT_TTL = timedelta(hours=1)  # Kubernetes' default event TTL; Firestore TTL reads expireAt


# Firestore's document limit, and what one commit may carry: the API takes 10 MiB per
# request, the emulator's gRPC server 4 MiB; stay well under both.
MAX_DOCUMENT_BYTES = 1_048_576
COMMIT_BUDGET_BYTES = 3 * 1_048_576


def stored_size(value: Any) -> int:
    """Bytes a value takes in Firestore, by its documented storage-size rules."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass")) + 1
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, dict):
        return sum(stored_size(str(k)) + stored_size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(stored_size(v) for v in value)
    if value is None or isinstance(value, bool):
        return 1
    return 8  # numbers, timestamps


def document_size(path: str, data: dict[str, Any]) -> int:
    return sum(stored_size(part) for part in path.split("/")) + 16 + 32 + stored_size(data)


class StaleWrite(Exception):
    """A precondition failed: the documents changed since they were read."""


def _datetime(value: Any) -> datetime:
    """Snapshots from queries carry protobuf Timestamps, from ``get`` datetimes: one type."""
    if isinstance(value, datetime):
        return value
    result: datetime = DatetimeWithNanoseconds.from_timestamp_pb(value)  # type: ignore[no-untyped-call]
    return result


def doc_path(namespace: str, collection: str, name: str) -> str:
    return f"namespaces/{namespace}/{collection}/{name}"


@dataclass(frozen=True)
class Doc:
    """A document as read: its data and the times its preconditions are built from."""

    path: str
    data: dict[str, Any]
    update_time: datetime
    create_time: datetime

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    @property
    def namespace(self) -> str:
        return self.path.split("/")[1]


@dataclass(frozen=True)
class Create:
    path: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Update:
    """Set the given field paths; with ``if_updated_at`` only if nothing changed since."""

    path: str
    fields: dict[str, Any]
    if_updated_at: datetime | None = None


@dataclass(frozen=True)
class Delete:
    path: str
    if_updated_at: datetime | None = None


@dataclass(frozen=True)
class RecordEvent:
    """A Kubernetes Event; the same object, reason and message are counted, not repeated."""

    namespace: str
    event_id: str
    involved: dict[str, str]
    reason: str
    message: str
    type: str = "Normal"


Write = Create | Update | Delete | RecordEvent


@dataclass
class OpCounts:
    """Billable Firestore operations: a query costs its documents, at least one."""

    reads: int = 0
    writes: int = 0
    deletes: int = 0
    commits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, reads: int = 0, writes: int = 0, deletes: int = 0, commits: int = 0) -> None:
        with self._lock:
            self.reads += reads
            self.writes += writes
            self.deletes += deletes
            self.commits += commits

    def snapshot(self) -> dict[str, int]:
        return {"reads": self.reads, "writes": self.writes, "deletes": self.deletes, "commits": self.commits}


class Store:
    def __init__(self, client: firestore.Client) -> None:
        self.client = client
        self.ops = OpCounts()

    @classmethod
    def for_project(cls, project: str, database: str = "(default)") -> Store:
        """The installation's database (``FIRECONTROL_DATABASE``) in ``project``."""
        return cls(firestore.Client(project=project, database=database))

    def _doc(self, snapshot: Any) -> Doc:
        return Doc(
            path=snapshot.reference.path,
            data=snapshot.to_dict() or {},
            update_time=_datetime(snapshot.update_time),
            create_time=_datetime(snapshot.create_time),
        )

    def get(self, path: str) -> Doc | None:
        snapshot = self.client.document(path).get()
        self.ops.add(reads=1)
        return self._doc(snapshot) if snapshot.exists else None

    def _run(self, query: Any) -> list[Doc]:
        docs = [self._doc(snapshot) for snapshot in query.stream()]
        self.ops.add(reads=max(1, len(docs)))
        return docs

    def pods_matching_or_owned(
        self,
        namespace: str,
        selector: Mapping[str, str] | LabelSelector,
        owner_ref: Mapping[str, Any] | None,
    ) -> list[Doc]:
        """Pods the selector matches, or that carry this exact owner reference.

        One query (an OR), so a pod that is both costs one read. ``matchLabels`` are
        equality filters in the query; ``matchExpressions`` have no Firestore form and are
        applied to what it returns (a selector of expressions only reads the namespace's
        pods). An empty selector matches nothing.
        """
        query = LabelSelector.of(selector)
        filters: list[BaseFilter] = [
            FieldFilter(FieldPath("metadata", "labels", key).to_api_repr(), "==", value)
            for key, value in sorted(query.match_labels.items())
        ]
        pods = self.client.collection(f"namespaces/{namespace}/{PODS}")
        if query.match_expressions and not filters:
            return [
                doc for doc in self._run(pods)
                if _labels_match(query, doc) or _owned_by(doc, owner_ref)
            ]
        matching: BaseFilter | None = None
        if filters:
            matching = And(filters) if len(filters) > 1 else filters[0]
        owned = None
        if owner_ref is not None:
            owned = FieldFilter("metadata.ownerReferences", "array_contains", dict(owner_ref))
        if matching is None and owned is None:
            return []
        condition = Or([owned, matching]) if owned and matching else (owned or matching)
        docs = self._run(pods.where(filter=condition))
        if not query.match_expressions:
            return docs
        return [doc for doc in docs if _labels_match(query, doc) or _owned_by(doc, owner_ref)]

    def in_namespace(self, namespace: str, collection: str) -> list[Doc]:
        """Every document of one kind in one namespace."""
        return self._run(self.client.collection(f"namespaces/{namespace}/{collection}"))

    def all_of_kind(self, collection: str) -> list[Doc]:
        """Every document of one kind in every namespace (a collection-group query)."""
        return self._run(self.client.collection_group(collection))

    def stream_of_kind(self, collection: str, fields: Iterable[tuple[str, ...]]) -> Iterator[Doc]:
        """Every document of one kind, only the given fields of each (a projection: how
        big the documents are does not matter), one at a time as the query streams them.
        A field is its keys from the top (``("metadata", "annotations", "a.b/c")``)."""
        paths = [FieldPath(*keys).to_api_repr() for keys in fields]
        query = self.client.collection_group(collection).select(paths)
        count = 0
        for snapshot in query.stream():
            count += 1
            self.ops.add(reads=1)
            yield self._doc(snapshot)
        if not count:
            self.ops.add(reads=1)

    def create(self, path: str, data: dict[str, Any]) -> bool:
        """Create a document unless one is there: True if this call made it."""
        try:
            self.client.document(path).create(data)
        except (gexc.AlreadyExists, gexc.Conflict):
            self.ops.add(reads=1)  # a failed create is billed as a read
            return False
        self.ops.add(writes=1, commits=1)
        return True

    def put(self, path: str, data: dict[str, Any]) -> None:
        """Write a whole document, unconditionally (small bookkeeping documents)."""
        self.client.document(path).set(data)
        self.ops.add(writes=1, commits=1)

    def delete(self, path: str) -> None:
        self.client.document(path).delete()
        self.ops.add(deletes=1, commits=1)

    def _aggregate(self, aggregate: Any) -> dict[str, Any]:
        """Run an aggregation (its ``count`` aliased "n"): its results by alias, billed one
        read per 1,000 index entries it matched."""
        rows: Any = aggregate.get()  # a list of rows, each a list of results (typed otherwise)
        results = {result.alias: result.value for row in rows for result in row}
        self.ops.add(reads=max(1, -(-int(results.get("n") or 0) // 1000)))
        return results

    def _namespace(self, namespace: str, collection: str) -> Any:
        return self.client.collection(f"namespaces/{namespace}/{collection}")  # aggregations are untyped

    def sum_in_namespace(self, namespace: str, collection: str, field_path: str) -> int:
        """The sum of an integer field over one namespace's documents of a kind."""
        aggregate = self._namespace(namespace, collection).count(alias="n")
        aggregate.sum(field_path, alias="total")
        total = self._aggregate(aggregate).get("total") or 0
        if not isinstance(total, int):  # a sum past 2**63, or a field not an integer somewhere
            raise ValueError(f"sum of {field_path} in {namespace}/{collection} is not an integer: {total!r}")
        return total

    def count_set_in_namespace(self, namespace: str, collection: str, field_path: str) -> int:
        """How many of one namespace's documents of a kind have ``field_path`` set (not null)."""
        query = self._namespace(namespace, collection).where(filter=FieldFilter(field_path, "!=", None))
        return int(self._aggregate(query.count(alias="n"))["n"])

    def count_of_kind(self, collection: str) -> int:
        """How many documents of one kind in every namespace (over the collection group)."""
        group: Any = self.client.collection_group(collection)  # aggregations are untyped
        return int(self._aggregate(group.count(alias="n"))["n"])

    def commit(self, writes: Sequence[Write], now: datetime) -> None:
        """Apply the writes atomically; raise ``StaleWrite`` if any precondition failed."""
        if not writes:
            return
        batch = self.client.batch()
        for write in writes:
            self._add(batch, write, now)
        try:
            batch.commit()
        except (gexc.FailedPrecondition, gexc.Conflict, gexc.Aborted, gexc.NotFound) as error:
            raise StaleWrite(str(error)) from error
        deletes = sum(isinstance(w, Delete) for w in writes)
        self.ops.add(writes=len(writes) - deletes, deletes=deletes, commits=1)

    def _add(self, batch: Any, write: Write, now: datetime) -> None:
        if isinstance(write, Create):
            batch.create(self.client.document(write.path), write.data)
        elif isinstance(write, Update):
            option = None
            if write.if_updated_at is not None:
                option = self.client.write_option(last_update_time=write.if_updated_at)
            batch.update(self.client.document(write.path), write.fields, option=option)
        elif isinstance(write, Delete):
            option = None
            if write.if_updated_at is not None:
                option = self.client.write_option(last_update_time=write.if_updated_at)
            batch.delete(self.client.document(write.path), option=option)
        else:
            batch.set(
                self.client.document(doc_path(write.namespace, EVENTS, write.event_id)),
                event_doc(write, now),
                merge=True,
            )

    def record(self, events: Iterable[RecordEvent], now: datetime) -> None:
        """Write events on their own, e.g. a failure whose commit did not happen."""
        self.commit(list(events), now)

    def count_matching(
        self, namespace: str, collection: str, filters: Sequence[tuple[tuple[str, ...], str, Any]] = ()
    ) -> int:
        """How many of one namespace's documents of a kind match every filter (an
        aggregation: one read per 1,000 matched). A field is its keys from the top:
        ``((("status", "phase"), "in", ["Failed", "Succeeded"]),)``."""
        query: Any = self._namespace(namespace, collection)
        for keys, op, value in filters:
            query = query.where(filter=FieldFilter(FieldPath(*keys).to_api_repr(), op, value))
        return int(self._aggregate(query.count(alias="n"))["n"])

    def select_in_namespace(self, namespace: str, collection: str, fields: Sequence[tuple[str, ...]]) -> list[Doc]:
        """One namespace's documents of a kind with only the given fields (a projection)."""
        paths = [FieldPath(*keys).to_api_repr() for keys in fields]
        return self._run(self._namespace(namespace, collection).select(paths))


def _labels_match(selector: LabelSelector, doc: Doc) -> bool:
    meta = doc.data.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if not isinstance(labels, dict):
        return False
    return selector.matches({k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)})


def _owned_by(doc: Doc, owner_ref: Mapping[str, Any] | None) -> bool:
    """The document carries this exact owner reference (as the ``array_contains`` query)."""
    if owner_ref is None:
        return False
    meta = doc.data.get("metadata")
    refs = meta.get("ownerReferences") if isinstance(meta, dict) else None
    return isinstance(refs, list) and dict(owner_ref) in refs


def event_doc(event: RecordEvent, now: datetime) -> dict[str, Any]:
    """A v1 Event map. ``firstTimestamp`` is the document's own create time."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event.event_id, "namespace": event.namespace},
        "involvedObject": event.involved,
        "reason": event.reason,
        "message": event.message,
        "type": event.type,
        "source": {"component": "firecontrol"},
        "count": firestore.Increment(1),
        "lastTimestamp": now,
        "expireAt": now + EVENT_TTL,
    }
