"""Reading documents for display: one, a namespace's, or every namespace's of a kind.

``functions.store`` has the reads the controllers need; the CLI lists whole
collections, which no controller should do, so those queries live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from functions.cli.kinds import EVENT, Kind

if TYPE_CHECKING:
    from functions.store import Doc, Store


def to_doc(snapshot: Any) -> Doc:
    from functions.store import Doc

    return Doc(
        snapshot.reference.path, snapshot.to_dict() or {},
        _datetime(snapshot.update_time), _datetime(snapshot.create_time),
    )


def _datetime(value: Any) -> datetime:
    """Query snapshots carry protobuf Timestamps, ``get`` datetimes: one type for display."""
    if isinstance(value, datetime):
        return value
    from google.api_core.datetime_helpers import DatetimeWithNanoseconds

    result: datetime = DatetimeWithNanoseconds.from_timestamp_pb(value)  # type: ignore[no-untyped-call]
    return result


def get(store: Store, kind: Kind, namespace: str, name: str) -> Doc | None:
    return store.get(f"namespaces/{namespace}/{kind.collection}/{name}")


def collection(store: Store, kind: Kind, namespace: str | None) -> Any:
    """The query for a kind in one namespace, or in all (None)."""
    if namespace is None:
        return store.client.collection_group(kind.collection)
    return store.client.collection(f"namespaces/{namespace}/{kind.collection}")


def list_docs(store: Store, kind: Kind, namespace: str | None, selector: Mapping[str, str] | None = None) -> list[Doc]:
    """Documents sorted by namespace and name; the selector is applied here, on the labels
    of either shape (a 2014 document keeps its labels at the top level)."""
    docs = [to_doc(s) for s in collection(store, kind, namespace).stream()]
    if selector:
        docs = [d for d in docs if matches(kind, d.data, selector)]
    return sorted(docs, key=lambda d: (d.namespace, d.name))


def matches(kind: Kind, data: dict[str, Any], selector: Mapping[str, str]) -> bool:
    """On the labels as served (a controller without labels has its template's)."""
    from functions.served import labels_of

    labels = labels_of(kind, data)
    return all(labels.get(key) == value for key, value in selector.items())


def events_for(store: Store, namespace: str, kind: str, name: str) -> list[Doc]:
    """The object's events, oldest first (by last time seen)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        collection(store, EVENT, namespace)
        .where(filter=FieldFilter("involvedObject.kind", "==", kind))
        .where(filter=FieldFilter("involvedObject.name", "==", name))
    )
    return sorted((to_doc(s) for s in query.stream()), key=event_time)


def event_time(doc: Doc) -> Any:
    last = doc.data.get("lastTimestamp")
    return last if hasattr(last, "timestamp") else doc.update_time
