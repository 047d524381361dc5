"""Decoding a Firestore CloudEvent (``google.cloud.firestore.document.v1.written``).

Eventarc delivers the ``DocumentEventData`` protobuf as the body; the Firestore
emulator sends the base64 text of the same bytes. Either becomes a ``DocumentChange``:
created, updated or deleted, with the old and new documents as plain Python values.
An event only names what to reconcile; handlers re-read the current state.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.cloud.firestore_v1 import GeoPoint
from google.events.cloud.firestore_v1 import DocumentEventData
from google.protobuf.message import DecodeError

ChangeKind = Literal["created", "updated", "deleted"]

# First bytes of a serialized DocumentEventData: field 1, 2 or 3, length-delimited.
_PROTO_TAGS = (0x0A, 0x12, 0x1A)

# Fields the functions themselves write: a change to only these is our own echo.
OWN_METADATA = ("resourceVersion", "generation", "uid")


class EventError(ValueError):
    """An event that cannot be decoded; it is logged and dropped, never retried."""


@dataclass(frozen=True)
class StoredDocument:
    data: dict[str, Any]
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class DocumentChange:
    kind: ChangeKind
    path: str
    old: StoredDocument | None
    new: StoredDocument | None

    @property
    def parts(self) -> list[str]:
        return self.path.split("/")

    @property
    def namespace(self) -> str:
        return self.parts[1]

    @property
    def collection(self) -> str:
        return self.parts[2]

    @property
    def name(self) -> str:
        return self.parts[3]

    def only_changed(self, ignored_metadata: Iterable[str] = OWN_METADATA, ignored_spec: Iterable[str] = ()) -> bool:
        """True when nothing but ``status`` and the given metadata and spec fields changed."""
        if self.old is None or self.new is None:
            return False
        meta, spec = tuple(ignored_metadata), tuple(ignored_spec)
        return _without(self.old.data, meta, spec) == _without(self.new.data, meta, spec)


def _without(data: dict[str, Any], ignored_metadata: tuple[str, ...], ignored_spec: tuple[str, ...]) -> dict[str, Any]:
    rest = {k: v for k, v in data.items() if k != "status"}
    for part, ignored in (("metadata", ignored_metadata), ("spec", ignored_spec)):
        value = rest.get(part)
        if isinstance(value, dict) and ignored:
            rest[part] = {k: v for k, v in value.items() if k not in ignored}
    return rest


def _time(timestamp: Any) -> datetime:
    """A protobuf Timestamp, nanoseconds kept (a controller's uid is derived from one)."""
    result: datetime = DatetimeWithNanoseconds.from_timestamp_pb(timestamp)  # type: ignore[no-untyped-call]
    return result


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value_type")
    if kind is None or kind == "null_value":
        return None
    if kind == "map_value":
        return {k: _value(v) for k, v in value.map_value.fields.items()}
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "timestamp_value":
        return _time(value.timestamp_value)
    if kind == "geo_point_value":
        return GeoPoint(value.geo_point_value.latitude, value.geo_point_value.longitude)
    return getattr(value, kind)


def _document(doc: Any) -> StoredDocument | None:
    if not doc.name:
        return None
    return StoredDocument(
        data={k: _value(v) for k, v in doc.fields.items()},
        create_time=_time(doc.create_time),
        update_time=_time(doc.update_time),
    )


def _payload(data: Any) -> bytes:
    if isinstance(data, str):
        data = data.encode()
    if not isinstance(data, bytes | bytearray):
        raise EventError(f"event data is {type(data).__name__}, expected protobuf bytes")
    if data and data[0] in _PROTO_TAGS:
        return bytes(data)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise EventError(f"event data is neither protobuf nor base64: {error}") from None


def _path(name: str) -> str:
    return name.split("/documents/", 1)[1] if "/documents/" in name else name.removeprefix("documents/")


def decode(attributes: Mapping[str, Any], data: Any) -> DocumentChange:
    """A CloudEvent's attributes and data, as a ``DocumentChange``."""
    message = DocumentEventData.pb()()
    try:
        message.ParseFromString(_payload(data))
    except DecodeError as error:
        raise EventError(f"event data is not a DocumentEventData: {error}") from None
    old = _document(message.old_value) if message.HasField("old_value") else None
    new = _document(message.value) if message.HasField("value") else None
    name = (message.value.name if new else message.old_value.name) or str(
        attributes.get("document") or attributes.get("subject") or ""
    )
    path = _path(name)
    if path.count("/") != 3 or not path.startswith("namespaces/"):
        raise EventError(f"event for {path!r:.200} is not a namespaces/{{ns}}/{{kind}}/{{name}} document")
    if old is None and new is None:
        raise EventError(f"event for {path} carries neither an old nor a new document")
    kind: ChangeKind = "created" if old is None else "deleted" if new is None else "updated"
    return DocumentChange(kind=kind, path=path, old=old, new=new)
