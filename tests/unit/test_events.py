"""Decoding Firestore CloudEvents: real emulator bodies (base64) and Eventarc protobuf."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from google.events.cloud.firestore_v1 import Document, DocumentEventData, MapValue, Value

from functions.events import EventError, decode
from tests.helpers import FIXTURES

SUBJECT = {"subject": "documents/namespaces/default/replicationControllers/web"}


def recorded(name: str) -> bytes:
    return (FIXTURES / f"event-{name}.b64").read_bytes()


def test_emulator_created_event() -> None:
    change = decode(SUBJECT, recorded("created"))
    assert (change.kind, change.namespace, change.collection, change.name) == (
        "created", "default", "replicationControllers", "web",
    )
    assert change.old is None and change.new is not None
    assert change.new.data == {"metadata": {"name": "web"}, "spec": {"replicas": 3}}
    assert not change.only_changed()


def test_emulator_status_only_update_is_recognised() -> None:
    change = decode(SUBJECT, recorded("updated-status-only"))
    assert change.kind == "updated"
    assert change.new is not None and change.new.data["status"] == {"replicas": 1}
    assert change.only_changed()


def test_emulator_deleted_event_keeps_old_document_and_create_time() -> None:
    change = decode(SUBJECT, recorded("deleted"))
    assert change.kind == "deleted" and change.new is None
    assert change.old is not None and change.old.create_time.year >= 2026


def _value(python: object) -> Value:
    if isinstance(python, dict):
        return Value(map_value=MapValue(fields={k: _value(v) for k, v in python.items()}))
    if isinstance(python, bool):
        return Value(boolean_value=python)
    if isinstance(python, int):
        return Value(integer_value=python)
    if isinstance(python, datetime):
        return Value(timestamp_value=python)
    return Value(string_value=str(python))


def _event(old: dict[str, object] | None, new: dict[str, object] | None) -> bytes:
    name = "projects/p/databases/(default)/documents/namespaces/prod/pods/web-abcde"
    stamp = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)

    def document(data: dict[str, object]) -> Document:
        return Document(name=name, fields={k: _value(v) for k, v in data.items()}, create_time=stamp, update_time=stamp)

    message = DocumentEventData(
        old_value=document(old) if old is not None else None,
        value=document(new) if new is not None else None,
    )
    return DocumentEventData.serialize(message)


def test_eventarc_protobuf_body() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = _event({"metadata": {"name": "web-abcde"}}, {"metadata": {"name": "web-abcde", "deletionTimestamp": when}, "ok": True, "n": 7})
    change = decode({}, body)
    assert change.kind == "updated" and change.path == "namespaces/prod/pods/web-abcde"
    assert change.new is not None
    assert change.new.data == {"metadata": {"name": "web-abcde", "deletionTimestamp": when}, "ok": True, "n": 7}
    assert not change.only_changed()
    assert decode({}, base64.b64encode(body)).new == change.new  # the emulator's form


def test_own_metadata_fields_count_as_status_only() -> None:
    body = _event(
        {"metadata": {"name": "w", "resourceVersion": "1"}, "spec": {"replicas": 1}},
        {"metadata": {"name": "w", "resourceVersion": "2", "generation": 2}, "spec": {"replicas": 1}, "status": {"replicas": 1}},
    )
    assert decode({}, body).only_changed()


@pytest.mark.parametrize("body", [b"not base64 at all!", b"\x0a\xff\xff", 12, b""])
def test_undecodable_bodies_raise_event_error(body: object) -> None:
    with pytest.raises(EventError):
        decode({}, body)


def test_event_for_a_document_outside_namespaces_is_rejected() -> None:
    message = DocumentEventData(value=Document(name="projects/p/databases/(default)/documents/other/x"))
    with pytest.raises(EventError, match="not a namespaces"):
        decode({}, DocumentEventData.serialize(message))
