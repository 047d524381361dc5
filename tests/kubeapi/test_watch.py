"""Watches (docs/kube-api.md §5) on the real Firestore emulator: ``watch.stream`` read
in a thread, documents written with the real client meanwhile."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.kubeapi import namespaces, reads, routes, watch, watch_diff
from functions.kubeapi.status import ApiError
from functions.runtime import Runtime
from functions.served import resource_version

Event = dict[str, Any]


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def put(rt: Runtime, name: str, namespace: str = "default", **labels: str) -> str:
    """Write a pod; its resourceVersion."""
    ref = rt.store.client.document(f"namespaces/{namespace}/pods/{name}")
    ref.set(pod(name, **labels))
    return resource_version(ref.get().update_time)


def remove(rt: Runtime, name: str, namespace: str = "default") -> None:
    rt.store.client.document(f"namespaces/{namespace}/pods/{name}").delete()


class Watcher:
    """The stream's events, read in a thread (the generator blocks between events)."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(lines,), daemon=True)
        self.thread.start()

    def _read(self, lines: Iterator[bytes]) -> None:
        try:
            for line in lines:
                assert line.endswith(b"\n") and line.count(b"\n") == 1
                self.events.put(json.loads(line))
        finally:
            self.done.set()
            self.events.put(None)

    def take(self, count: int, timeout: float = 15.0) -> list[Event]:
        out: list[Event] = []
        until = time.monotonic() + timeout
        while len(out) < count:
            event = self.events.get(timeout=max(0.01, until - time.monotonic()))
            assert event is not None, f"the stream ended after {out}"
            out.append(event)
        return out

    def rest(self, timeout: float = 15.0) -> list[Event]:
        """Every event until the stream ends."""
        out: list[Event] = []
        until = time.monotonic() + timeout
        while (event := self.events.get(timeout=max(0.01, until - time.monotonic()))) is not None:
            out.append(event)
        return out


def start(rt: Runtime, path: str = "/api/v1/namespaces/default/pods", as_table: bool = False,
          **query: str) -> Watcher:
    query.setdefault("timeoutSeconds", "20")
    return Watcher(watch.stream(rt, routes.parse(path), query, as_table))


def seen(events: list[Event]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def version(event: Event) -> int:
    return int(event["object"]["metadata"]["resourceVersion"])


def test_current_objects_are_added_then_changes_follow(rt: Runtime) -> None:
    put(rt, "a")
    put(rt, "b")
    watcher = start(rt)
    initial = watcher.take(2)
    assert sorted(seen(initial)) == [("ADDED", "a"), ("ADDED", "b")]
    assert initial[0]["object"]["kind"] == "Pod" and initial[0]["object"]["apiVersion"] == "v1"
    put(rt, "c")
    changes = watcher.take(1)
    b_version = put(rt, "b", tier="x")
    changes += watcher.take(1)
    remove(rt, "a")
    changes += watcher.take(1)
    assert seen(changes) == [("ADDED", "c"), ("MODIFIED", "b"), ("DELETED", "a")]
    assert changes[1]["object"]["metadata"]["labels"] == {"tier": "x"}
    assert str(version(changes[1])) == b_version
    versions = [version(e) for e in changes]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert changes[2]["object"]["metadata"]["namespace"] == "default"


def test_a_watch_from_a_version_sends_exactly_what_changed_after_it(rt: Runtime) -> None:
    put(rt, "kept")
    put(rt, "changed")
    put(rt, "deleted")
    since = put(rt, "anchor")
    put(rt, "changed", v="2")
    remove(rt, "deleted")
    put(rt, "created")
    watcher = start(rt, resourceVersion=since)
    events = watcher.take(4)
    # in resourceVersion order: the deletion is stamped with the earliest it can be (the
    # version asked for: "deleted" was there just before it); the anchor, stamped with
    # that version, again (a version is inclusive)
    assert seen(events) == [("DELETED", "deleted"), ("ADDED", "anchor"), ("MODIFIED", "changed"), ("ADDED", "created")]
    assert version(events[0]) == version(events[1]) == int(since)
    assert all(version(e) > int(since) for e in events[2:])
    deleted = next(e for e in events if e["type"] == "DELETED")
    assert deleted["object"]["metadata"]["name"] == "deleted"
    remove(rt, "kept")  # and then live changes
    assert seen(watcher.take(1)) == [("DELETED", "kept")]


def test_a_watch_from_a_list_version_with_nothing_new_is_quiet(rt: Runtime, api: FlaskClient) -> None:
    put(rt, "a")
    put(rt, "b")
    listed = api.get("/api/v1/namespaces/default/pods").json
    assert listed is not None
    since = listed["metadata"]["resourceVersion"]
    watcher = start(rt, resourceVersion=since, timeoutSeconds="2", allowWatchBookmarks="true")
    events = watcher.rest()
    assert [e["type"] for e in events] == ["BOOKMARK"]
    assert version(events[0]) >= int(since)


def test_a_version_older_than_firestore_reads_is_410_then_the_end(rt: Runtime) -> None:
    old = resource_version(rt.clock() - timedelta(hours=2))
    events = start(rt, resourceVersion=old).rest(timeout=5)
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"
    assert status["message"].startswith(f"too old resource version: {old} (")


def test_a_version_that_does_not_parse_is_a_400_before_streaming(rt: Runtime) -> None:
    with pytest.raises(ApiError) as caught:
        watch.stream(rt, routes.parse("/api/v1/namespaces/default/pods"), {"resourceVersion": "x1"}, False)
    assert caught.value.code == 400


def test_timeout_seconds_ends_the_stream_with_a_bookmark(rt: Runtime) -> None:
    put(rt, "a")
    began = time.monotonic()
    events = start(rt, timeoutSeconds="1", allowWatchBookmarks="true").rest()
    took = time.monotonic() - began
    assert seen(events) == [("ADDED", "a"), ("BOOKMARK", "")]
    assert events[1]["object"] == {"kind": "Pod", "apiVersion": "v1",
                                   "metadata": {"resourceVersion": events[1]["object"]["metadata"]["resourceVersion"]}}
    assert version(events[1]) >= version(events[0])
    assert 0.9 <= took < 4


def test_the_installation_bound_wins_over_a_longer_timeout(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRECONTROL_WATCH_SECONDS", "60")  # the environment is read once, by Settings
    bounded = replace(rt, settings=replace(rt.settings, watch_seconds=1))
    began = time.monotonic()
    assert start(bounded, timeoutSeconds="60").rest() == []
    assert time.monotonic() - began < 4


def test_send_initial_events_ends_the_initial_set_with_a_bookmark(rt: Runtime) -> None:
    a_version = put(rt, "a")
    watcher = start(rt, sendInitialEvents="true", resourceVersionMatch="NotOlderThan", allowWatchBookmarks="true",
                    resourceVersion=a_version)
    events = watcher.take(2)
    assert seen(events) == [("ADDED", "a"), ("BOOKMARK", "")]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert version(events[1]) >= int(a_version)
    put(rt, "b")
    assert seen(watcher.take(1)) == [("ADDED", "b")]


def test_every_namespace_is_watched_through_the_collection_group(rt: Runtime) -> None:
    put(rt, "a", namespace="one")
    put(rt, "b", namespace="two")
    watcher = start(rt, "/api/v1/pods")
    initial = watcher.take(2)
    assert sorted((e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"]) for e in initial) == [
        ("one", "a"), ("two", "b")]
    put(rt, "c", namespace="three")
    event = watcher.take(1)[0]
    assert event["type"] == "ADDED" and event["object"]["metadata"]["namespace"] == "three"


def test_a_watch_of_one_object_by_its_path_sees_only_it(rt: Runtime) -> None:
    put(rt, "a")
    put(rt, "b")
    watcher = start(rt, "/api/v1/watch/namespaces/default/pods/a")
    assert seen(watcher.take(1)) == [("ADDED", "a")]
    put(rt, "b", v="2")
    remove(rt, "a")
    assert seen(watcher.take(1)) == [("DELETED", "a")]


def test_closing_the_stream_unsubscribes_the_listener(rt: Runtime) -> None:
    put(rt, "a")
    before = threading.active_count()
    lines = watch.stream(rt, routes.parse("/api/v1/namespaces/default/pods"), {"timeoutSeconds": "60"}, False)
    assert json.loads(next(lines))["type"] == "ADDED"
    assert threading.active_count() > before  # the listener's threads
    lines.close()  # what the server does when the client goes away
    until = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < until:
        time.sleep(0.05)
    assert threading.active_count() <= before


def test_a_client_gone_ends_the_stream_within_a_tick_and_unsubscribes(rt: Runtime) -> None:
    """A quiet watch writes nothing that would fail on a dead socket: it asks
    ``client_gone`` each time it wakes (the server's socket check, ``streams``)."""
    put(rt, "a")
    gone = threading.Event()
    before = threading.active_count()
    lines = watch.stream(rt, routes.parse("/api/v1/namespaces/default/pods"),
                         {"timeoutSeconds": "60", "allowWatchBookmarks": "true"}, False, gone.is_set)
    watcher = Watcher(lines)
    assert seen(watcher.take(1)) == [("ADDED", "a")]
    gone.set()
    began = time.monotonic()
    assert watcher.rest(timeout=5) == []  # no BOOKMARK: nobody to read it
    assert time.monotonic() - began < watch.TICK + 1
    until = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < until:
        time.sleep(0.05)
    assert threading.active_count() <= before


def test_a_client_gone_before_the_watch_starts_gets_nothing(rt: Runtime) -> None:
    """A watch that waited for a thread behind others, its client gone meanwhile."""
    put(rt, "a")
    lines = watch.stream(rt, routes.parse("/api/v1/namespaces/default/pods"), {"timeoutSeconds": "60"}, False,
                         lambda: True)
    began = time.monotonic()
    assert list(lines) == []
    assert time.monotonic() - began < 0.5


def test_a_go_duration_timeout_bounds_the_watch(rt: Runtime, api: FlaskClient) -> None:
    """``kubectl get -w --request-timeout=4s`` sends ``timeout=4s``."""
    put(rt, "a")
    began = time.monotonic()
    reply = api.get("/api/v1/namespaces/default/pods?watch=true&timeout=1s&timeoutSeconds=60")
    assert [json.loads(line)["type"] for line in reply.data.splitlines()] == ["ADDED"]
    assert 0.9 <= time.monotonic() - began < 4
    bad = api.get("/api/v1/namespaces/default/pods?watch=true&timeout=1")
    assert bad.status_code == 400 and bad.json is not None and "missing unit" in bad.json["message"]


@pytest.mark.parametrize("selector", ["app=web", "app in (web,www)"])  # pushed into the listener, or not
def test_objects_moving_in_and_out_of_a_label_selector_are_added_and_deleted(rt: Runtime, selector: str) -> None:
    put(rt, "a", app="web")
    put(rt, "b", app="db")
    watcher = start(rt, labelSelector=selector)
    assert seen(watcher.take(1)) == [("ADDED", "a")]
    put(rt, "b", app="web")
    assert seen(watcher.take(1)) == [("ADDED", "b")]
    put(rt, "a", app="db")
    left = watcher.take(1)
    assert seen(left) == [("DELETED", "a")]
    assert left[0]["object"]["metadata"]["labels"] == {"app": "db"}  # its new state, as the watch cache sends
    put(rt, "a", app="web", v="2")
    back = watcher.take(1)[0]
    assert (back["type"], back["object"]["metadata"]["labels"]) == ("ADDED", {"app": "web", "v": "2"})
    put(rt, "b", app="web", v="2")
    assert seen(watcher.take(1)) == [("MODIFIED", "b")]
    remove(rt, "b")
    put(rt, "c", app="db")
    remove(rt, "a")
    assert seen(watcher.take(2)) == [("DELETED", "b"), ("DELETED", "a")]


def test_a_watch_from_a_version_with_a_selector_sees_moves_since(rt: Runtime) -> None:
    put(rt, "leaves", app="web")
    put(rt, "joins", app="db")
    since = put(rt, "other", app="db")
    put(rt, "leaves", app="db")
    put(rt, "joins", app="web")
    events = start(rt, resourceVersion=since, labelSelector="app=web", timeoutSeconds="2").rest()
    # the listener holds only app=web: "leaves" is gone from it, DELETED with its new state
    # at the earliest it can have left (the version asked for)
    assert seen(events) == [("DELETED", "leaves"), ("ADDED", "joins")]
    assert events[0]["object"]["metadata"]["labels"] == {"app": "db"}
    assert version(events[0]) == int(since) < version(events[1])


def test_an_object_made_again_outside_a_selector_is_deleted_with_its_old_state(rt: Runtime) -> None:
    put(rt, "p", app="web")
    since = put(rt, "anchor", app="db")
    remove(rt, "p")
    put(rt, "p", app="db")  # another object of the same name, not selected
    events = start(rt, resourceVersion=since, labelSelector="app=web", timeoutSeconds="1").rest()
    assert seen(events) == [("DELETED", "p")]
    assert events[0]["object"]["metadata"]["labels"] == {"app": "web"}


def test_a_bad_selector_is_a_400_before_streaming(rt: Runtime) -> None:
    route = routes.parse("/api/v1/namespaces/default/pods")
    with pytest.raises(ApiError) as caught:
        watch.stream(rt, route, {"fieldSelector": "spec.nothing=x"}, False)
    assert (caught.value.code, caught.value.message) == (400, 'field label not supported: spec.nothing')


def test_a_field_selector_on_the_name_watches_one_object(rt: Runtime) -> None:
    put(rt, "a")
    put(rt, "b")
    watcher = start(rt, fieldSelector="metadata.name=b")  # kubectl get pod b -w
    assert seen(watcher.take(1)) == [("ADDED", "b")]
    put(rt, "a", v="2")
    put(rt, "b", v="2")
    assert seen(watcher.take(1)) == [("MODIFIED", "b")]


def test_a_field_selector_on_the_namespace_of_an_every_namespace_watch(rt: Runtime) -> None:
    put(rt, "a", namespace="one")
    put(rt, "b", namespace="two")
    watcher = start(rt, "/api/v1/pods", fieldSelector="metadata.namespace=two")
    assert seen(watcher.take(1)) == [("ADDED", "b")]
    put(rt, "c", namespace="one")
    put(rt, "d", namespace="two")
    assert seen(watcher.take(1)) == [("ADDED", "d")]


def test_a_field_selector_on_the_phase_follows_status_changes(rt: Runtime) -> None:
    put(rt, "a")
    ref = rt.store.client.document("namespaces/default/pods/a")
    watcher = start(rt, fieldSelector="status.phase=Running")
    ref.update({"status": {"phase": "Running"}})
    assert seen(watcher.take(1)) == [("ADDED", "a")]
    ref.update({"status": {"phase": "Failed"}})
    assert seen(watcher.take(1)) == [("DELETED", "a")]


def test_the_table_form_sends_one_row_tables(rt: Runtime) -> None:
    put(rt, "a")
    watcher = start(rt, as_table=True, allowWatchBookmarks="true", timeoutSeconds="3")
    first = watcher.take(1)[0]
    table = first["object"]
    assert first["type"] == "ADDED" and (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert len(table["rows"]) == 1 and table["rows"][0]["cells"][0] == "a"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    remove(rt, "a")
    rest = watcher.rest()
    assert [e["type"] for e in rest] == ["DELETED", "BOOKMARK"]
    assert rest[0]["object"]["rows"][0]["cells"][0] == "a"
    assert int(rest[0]["object"]["metadata"]["resourceVersion"]) > version(first)
    assert rest[1]["object"]["kind"] == "Table" and rest[1]["object"]["rows"] == []


def test_a_bad_include_object_is_a_400_before_streaming(rt: Runtime) -> None:
    with pytest.raises(ApiError) as caught:
        watch.stream(rt, routes.parse("/api/v1/namespaces/default/pods"), {"includeObject": "All"}, True)
    assert caught.value.code == 400


def test_a_watch_through_the_handler_is_json_lines(rt: Runtime, api: FlaskClient) -> None:
    put(rt, "a")
    reply = api.get("/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1&allowWatchBookmarks=true")
    assert reply.status_code == 200 and reply.mimetype == "application/json"
    events = [json.loads(line) for line in reply.data.splitlines()]
    assert seen(events) == [("ADDED", "a"), ("BOOKMARK", "")]
    bad = api.get("/api/v1/namespaces/default/pods?watch=true&resourceVersion=zz")
    assert bad.status_code == 400 and bad.json is not None and bad.json["kind"] == "Status"


# -- namespaces (docs/kube-api.md §9): their documents, the implicit ones, default --


def namespace(rt: Runtime, name: str, deleting: bool = False, **labels: str) -> str:
    """Write ``namespaces/{name}`` as a create (or a delete's mark) writes it; its resourceVersion."""
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "creationTimestamp": datetime.now(UTC)}
    if labels:
        meta["labels"] = labels
    if deleting:
        meta["deletionTimestamp"] = datetime.now(UTC)
    ref = rt.store.client.document(f"namespaces/{name}")
    ref.set({"apiVersion": "v1", "kind": "Namespace", "metadata": meta, "spec": {"finalizers": ["kubernetes"]},
             "status": {"phase": "Terminating" if deleting else "Active"}})
    return resource_version(ref.get().update_time)


def test_a_namespace_watch_starts_with_documents_implicit_namespaces_and_default(rt: Runtime) -> None:
    made = namespace(rt, "made")
    put(rt, "a", namespace="held")  # a namespace with no document: a pod is stored under it
    watcher = start(rt, "/api/v1/namespaces")
    initial = watcher.take(3)
    assert sorted(seen(initial)) == [("ADDED", "default"), ("ADDED", "held"), ("ADDED", "made")]
    served = {e["object"]["metadata"]["name"]: e["object"] for e in initial}
    assert (served["made"]["kind"], served["made"]["apiVersion"]) == ("Namespace", "v1")
    assert served["made"]["metadata"]["resourceVersion"] == made and served["made"]["metadata"]["uid"] == "uid-made"
    for name in ("held", "default"):  # as namespaces.py serves one with no document
        assert served[name] == namespaces.serve_implicit(name)
        assert served[name]["status"] == {"phase": "Active"}
    namespace(rt, "later")
    assert seen(watcher.take(1)) == [("ADDED", "later")]
    namespace(rt, "made", team="x")
    changed = watcher.take(1)
    assert seen(changed) == [("MODIFIED", "made")]
    assert changed[0]["object"]["metadata"]["labels"] == {"team": "x", "kubernetes.io/metadata.name": "made"}
    namespace(rt, "held", team="y")  # the implicit namespace gets its document: changed, not new
    assert seen(watcher.take(1)) == [("MODIFIED", "held")]
    namespace(rt, "later", deleting=True)
    marked = watcher.take(1)[0]
    assert (marked["type"], marked["object"]["status"]["phase"]) == ("MODIFIED", "Terminating")
    rt.store.client.document("namespaces/later").delete()
    gone = watcher.take(1)
    assert seen(gone) == [("DELETED", "later")] and version(gone[0]) > version(marked)


def test_one_namespace_is_watched_by_name_through_the_handler(rt: Runtime, api: FlaskClient) -> None:
    put(rt, "a", namespace="held")
    namespace(rt, "other", team="x")

    def events(path: str) -> list[tuple[str, str]]:
        reply = api.get(path)
        assert reply.status_code == 200, reply.data
        return seen([json.loads(line) for line in reply.data.splitlines()])

    assert events("/api/v1/namespaces/held?watch=true&timeoutSeconds=1") == [("ADDED", "held")]
    assert events("/api/v1/watch/namespaces/other?timeoutSeconds=1") == [("ADDED", "other")]
    assert events("/api/v1/namespaces?watch=true&timeoutSeconds=1&fieldSelector=metadata.name%3Dother") == [
        ("ADDED", "other")]
    # the name label is served, not stored: it is matched on what is served
    assert events("/api/v1/namespaces?watch=true&timeoutSeconds=1"
                  "&labelSelector=kubernetes.io/metadata.name%3Dother") == [("ADDED", "other")]
    assert events("/api/v1/namespaces?watch=true&timeoutSeconds=1&labelSelector=team%3Dx") == [("ADDED", "other")]


def test_a_namespace_watch_from_a_version_sends_what_changed_after_it(rt: Runtime) -> None:
    namespace(rt, "kept")
    namespace(rt, "gone")
    since = namespace(rt, "changed")
    namespace(rt, "changed", team="x")
    rt.store.client.document("namespaces/gone").delete()
    namespace(rt, "new")
    events = start(rt, "/api/v1/namespaces", resourceVersion=since, timeoutSeconds="2").rest()
    # "changed" was made at the version: the client may not have it (a version is inclusive)
    assert seen(events) == [("DELETED", "gone"), ("ADDED", "changed"), ("ADDED", "new")]
    assert version(events[0]) == int(since) and all(version(e) > int(since) for e in events[1:])


def test_the_table_form_of_a_namespace_watch(rt: Runtime) -> None:
    namespace(rt, "made", deleting=True)
    rows = {e["object"]["rows"][0]["cells"][0]: e["object"]["rows"][0]["cells"]
            for e in start(rt, "/api/v1/namespaces", as_table=True).take(2)}
    assert rows["made"][1] == "Terminating" and rows["default"][1] == "Active"


# -- resuming: a client cut after any event re-watches from its version and misses nothing --


def commit(rt: Runtime, added: tuple[str, ...] = (), changed: tuple[str, ...] = (),
           removed: tuple[str, ...] = ()) -> str:
    """Write pods in one batch (one commit: one update time for all); that version."""
    batch = rt.store.client.batch()
    for name in added:
        batch.set(rt.store.client.document(f"namespaces/default/pods/{name}"), pod(name))
    for name in changed:
        batch.set(rt.store.client.document(f"namespaces/default/pods/{name}"), pod(name, v="2"))
    for name in removed:
        batch.delete(rt.store.client.document(f"namespaces/default/pods/{name}"))
    results = batch.commit()
    return resource_version(results[0].update_time)


def test_a_batch_resumed_from_its_first_event_sends_all_of_it(rt: Runtime) -> None:
    """The replication pass creates its pods in one commit: one update time for all. A
    client that got the first ADDED and re-watches from its version gets the others."""
    since = put(rt, "anchor")
    committed = commit(rt, added=("a", "b", "c"))
    events = [e for e in start(rt, resourceVersion=since, timeoutSeconds="1").rest() if e["object"]["metadata"]["name"] != "anchor"]
    assert seen(events) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]
    assert {version(e) for e in events} == {int(committed)}
    resumed = start(rt, resourceVersion=str(version(events[0])), timeoutSeconds="1").rest()
    assert seen(resumed) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]  # "a" again: a repeat, never a miss


def test_a_version_is_inclusive_the_client_may_see_a_repeat(rt: Runtime) -> None:
    since = put(rt, "anchor")
    assert seen(start(rt, resourceVersion=since, timeoutSeconds="1").rest()) == [("ADDED", "anchor")]


def test_a_modify_and_delete_in_one_commit_resumed_from_the_modify_sends_the_delete(rt: Runtime) -> None:
    put(rt, "x")
    put(rt, "y")
    since = put(rt, "anchor")
    commit(rt, changed=("x",), removed=("y",))
    events = [e for e in start(rt, resourceVersion=since, timeoutSeconds="1").rest()
              if e["object"]["metadata"]["name"] != "anchor"]
    assert seen(events) == [("DELETED", "y"), ("MODIFIED", "x")]
    resumed = start(rt, resourceVersion=str(version(events[1])), timeoutSeconds="1").rest()
    assert seen(resumed) == [("DELETED", "y"), ("MODIFIED", "x")]


def test_a_live_modify_and_delete_in_one_commit_resumed_from_either_event_misses_nothing(rt: Runtime) -> None:
    put(rt, "x")
    put(rt, "y")
    watcher = start(rt)
    watcher.take(2)
    commit(rt, changed=("x",), removed=("y",))
    live = watcher.take(2)
    assert seen(live) == [("DELETED", "y"), ("MODIFIED", "x")]
    assert version(live[0]) <= version(live[1])
    for cut, event in enumerate(live):  # the client got events up to this one, then lost the stream
        resumed = start(rt, resourceVersion=str(version(event)), timeoutSeconds="1").rest()
        assert set(seen(live[cut + 1:])) <= set(seen(resumed))
    assert seen(start(rt, resourceVersion=str(version(live[1])), timeoutSeconds="1").rest()) == [
        ("DELETED", "y"), ("MODIFIED", "x")]


def test_an_empty_lists_version_then_a_create_sends_the_added(rt: Runtime) -> None:
    """A host clock ahead of Firestore's: the list's version is Firestore's read time, and
    the watch sends what is newer than it whatever the listener's first read time."""
    ahead = replace(rt, clock=lambda: datetime.now(UTC) + timedelta(seconds=30))
    listed = reads.list_objects(ahead, routes.parse("/api/v1/namespaces/default/pods"), {})
    assert listed["items"] == []
    put(rt, "a")
    events = start(ahead, resourceVersion=listed["metadata"]["resourceVersion"], timeoutSeconds="1").rest()
    assert seen(events) == [("ADDED", "a")]


def test_a_namespace_no_object_can_be_in_is_404_before_streaming(rt: Runtime) -> None:
    for namespace in ("__x__", "Bad_Name"):
        with pytest.raises(ApiError) as raised:
            watch.stream(rt, routes.parse(f"/api/v1/namespaces/{namespace}/pods"), {}, False)
        assert raised.value.code == 404 and raised.value.reason == "NotFound"


def test_a_label_watch_finds_a_controller_served_with_its_template_labels(rt: Runtime) -> None:
    from tests.helpers import rc_doc, write_rc

    doc = rc_doc("web", 1)
    doc["metadata"].pop("labels", None)  # served with the template's labels, as the apiserver defaults them
    write_rc(rt.store, doc)
    watcher = start(rt, "/api/v1/namespaces/default/replicationcontrollers", labelSelector="app=web")
    assert seen(watcher.take(1)) == [("ADDED", "web")]


def test_a_resume_from_a_short_first_snapshot_calls_nothing_deleted(rt: Runtime) -> None:
    """The Firestore client can deliver a listener's first snapshot short of documents
    while others are written (seen here 1-2 times in 60 under concurrent writes), sending
    the rest as ADDED later: a resume compares with a consistent read instead."""
    import datetime as dt

    from functions.kubeapi import streams

    put(rt, "a")
    since = put(rt, "b")
    route = routes.parse("/api/v1/namespaces/default/pods")
    query = {"resourceVersion": since}
    options = watch_diff.parse_options(query)
    resumed = watch._Watch(rt, route, options, watch._selection(route, query), False, "Metadata", 5.0,
                           query, streams.never)
    short = watch.Snapshot([], [], dt.datetime.now(dt.UTC))  # the listener sent neither document
    events = [json.loads(line) for line in resumed._start(short)]
    assert [e["type"] for e in events if e["type"] == "DELETED"] == [], events
    assert seen(events) == [("ADDED", "b")]  # stamped with the version asked for: sent again
