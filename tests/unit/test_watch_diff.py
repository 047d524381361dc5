"""The watch's decisions (functions/kubeapi/watch_diff.py): options, catch-up from a
resourceVersion, selector membership. No Firestore."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.kubeapi import watch_diff
from functions.kubeapi.status import ApiError
from functions.kubeapi.watch_diff import Change, Membership, catch_up, parse_options
from functions.served import resource_version
from functions.store import Doc

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def doc(name: str, created: float, updated: float, **data: Any) -> Doc:
    return Doc(f"namespaces/default/pods/{name}", {"metadata": {"name": name}, **data}, at(updated), at(created))


def summary(changes: list[Change]) -> list[tuple[str, str, float]]:
    return [(c.type, c.doc.name, (c.at - T0).total_seconds()) for c in changes]


# -- options --

def test_no_resource_version_starts_with_the_current_state() -> None:
    options = parse_options({})
    assert options.initial_events and options.since is None and not options.initial_end_bookmark
    assert parse_options({"resourceVersion": "0"}).initial_events


def test_a_resource_version_starts_after_it() -> None:
    version = resource_version(at(5))
    options = parse_options({"resourceVersion": version, "allowWatchBookmarks": "true", "timeoutSeconds": "30"})
    assert options.since == at(5) and not options.initial_events
    assert options.bookmarks and options.timeout == 30.0


def test_send_initial_events_needs_not_older_than() -> None:
    with pytest.raises(ApiError) as caught:
        parse_options({"sendInitialEvents": "true"})
    assert caught.value.code == 422
    assert caught.value.message == ('ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
                                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
    with pytest.raises(ApiError) as caught:
        parse_options({"resourceVersionMatch": "NotOlderThan"})
    assert "forbidden for watch unless sendInitialEvents is provided" in caught.value.message
    with pytest.raises(ApiError) as caught:
        parse_options({"sendInitialEvents": "true", "resourceVersionMatch": "Exact"})
    assert len(caught.value.causes) == 2 and 'Unsupported value: "Exact"' in caught.value.message


def test_send_initial_events_from_a_version_is_the_current_state_and_a_bookmark() -> None:
    options = parse_options({"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
                             "resourceVersion": resource_version(at(1))})
    assert options.initial_events and options.initial_end_bookmark and options.since is None


def test_send_initial_events_false_without_a_version_starts_now() -> None:
    options = parse_options({"sendInitialEvents": "false", "resourceVersionMatch": "NotOlderThan"})
    assert not options.initial_events and options.since is None


@pytest.mark.parametrize("query", [
    {"resourceVersion": "abc"}, {"resourceVersion": "-1"}, {"timeoutSeconds": "soon"}, {"allowWatchBookmarks": "yes"},
    {"timeout": "4"}, {"timeout": "soon"},
])
def test_values_that_do_not_parse_are_400(query: dict[str, str]) -> None:
    with pytest.raises(ApiError) as caught:
        parse_options(query)
    assert caught.value.code == 400 and caught.value.reason == "BadRequest"


def test_the_shorter_of_timeout_and_bound_wins() -> None:
    assert watch_diff.duration(parse_options({"timeoutSeconds": "10"}), 300) == 10
    assert watch_diff.duration(parse_options({"timeoutSeconds": "900"}), 300) == 300
    assert watch_diff.duration(parse_options({"timeoutSeconds": "0"}), 300) == 300


def test_the_shortest_of_timeout_seconds_timeout_and_bound_wins() -> None:
    """kubectl's ``--request-timeout=4s`` sends ``timeout=4s``, not timeoutSeconds."""
    def seconds(**query: str) -> float:
        return watch_diff.duration(parse_options(query), 300)

    assert seconds(timeout="4s") == 4
    assert seconds(timeout="4s", timeoutSeconds="2") == 2
    assert seconds(timeout="1m0s", timeoutSeconds="90") == 60
    assert seconds(timeout="1h") == 300
    assert seconds(timeout="0s", timeoutSeconds="7") == 7  # 0 bounds nothing, as timeoutSeconds=0
    assert seconds(timeout="-5s") == 300


@pytest.mark.parametrize(("text", "seconds"), [
    ("4s", 4.0), ("1m0s", 60.0), ("500ms", 0.5), ("1h2m3s", 3723.0), ("1.5h", 5400.0), ("0", 0.0),
    ("-2m", -120.0), ("+3s", 3.0), ("300us", 3e-4), ("300\u00b5s", 3e-4), ("10ns", 1e-8), (".5s", 0.5), ("2.s", 2.0),
])
def test_go_durations_parse_as_time_parse_duration_does(text: str, seconds: float) -> None:
    assert watch_diff.go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "message"), [
    ("4", 'time: missing unit in duration "4"'),
    ("4x", 'time: unknown unit "x" in duration "4x"'),
    ("", 'time: invalid duration ""'),
    ("s", 'time: invalid duration "s"'),
    (".s", 'time: invalid duration ".s"'),
    ("-", 'time: invalid duration "-"'),
    ("1s2", 'time: missing unit in duration "1s2"'),
])
def test_go_durations_that_do_not_parse_say_why_as_go_does(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        watch_diff.go_duration(text)
    assert str(caught.value) == message


def test_a_malformed_timeout_is_the_apiservers_400() -> None:
    with pytest.raises(ApiError) as caught:
        parse_options({"timeout": "4x"})
    assert caught.value.code == 400
    assert caught.value.message == 'invalid timeout specified in the request URL - time: unknown unit "x" in duration "4x"'


def test_older_than_firestore_reads_back_is_too_old() -> None:
    assert watch_diff.too_old(at(0), at(56 * 60))
    assert not watch_diff.too_old(at(0), at(50 * 60))


# -- catch-up: a version is inclusive --

def test_catch_up_sends_what_changed_at_or_after_the_version_in_order() -> None:
    past = [doc("same", 0, 1), doc("changed", 0, 2), doc("gone", 0, 3)]  # the state just before 4
    current = [doc("same", 0, 1), doc("changed", 0, 7), doc("new", 6, 6), doc("at", 4, 4)]
    changes = catch_up(past, [*past, doc("at", 4, 4)], current, at(4))
    # gone: somewhere in [4, now]; stamped with the earliest, so it comes first
    assert summary(changes) == [("DELETED", "gone", 4), ("ADDED", "at", 4), ("ADDED", "new", 6),
                                ("MODIFIED", "changed", 7)]
    assert changes[0].doc.update_time == at(3)  # the last state it had


def test_catch_up_of_a_name_made_again_is_deleted_then_added() -> None:
    changes = catch_up([doc("p", 0, 1, v=1)], [doc("p", 0, 1, v=1)], [doc("p", 5, 6, v=2)], at(2))
    assert summary(changes) == [("DELETED", "p", 2), ("ADDED", "p", 6)]
    assert changes[0].doc.data["v"] == 1 and changes[1].doc.data["v"] == 2


def test_catch_up_includes_what_is_stamped_with_the_version_itself() -> None:
    """Documents written in one commit share an update time: a client that got one of
    them may not have the others, so resuming from that time sends them all again."""
    assert summary(catch_up([doc("p", 0, 1)], [doc("p", 0, 2)], [doc("p", 0, 2)], at(2))) == [("MODIFIED", "p", 2)]
    assert catch_up([doc("p", 0, 1)], [doc("p", 0, 1)], [doc("p", 0, 1)], at(2)) == []


def test_catch_up_deletes_what_was_made_at_the_version_and_is_gone() -> None:
    """The client may have had it (an ADDED stamped with the version): it is not in the
    state just before, only in the state at the version."""
    changes = catch_up([], [doc("p", 2, 2)], [], at(2))
    assert summary(changes) == [("DELETED", "p", 2)]


def test_catch_up_deletes_what_was_deleted_at_the_version() -> None:
    """A MODIFIED and a deletion in one commit: a client resuming from the MODIFIED's
    version gets the deletion (the document is in the state just before)."""
    changes = catch_up([doc("x", 0, 1), doc("y", 0, 1)], [doc("x", 0, 2)], [doc("x", 0, 2)], at(2))
    assert summary(changes) == [("DELETED", "y", 2), ("MODIFIED", "x", 2)]


def test_the_past_is_read_just_before_the_version() -> None:
    assert watch_diff.just_before(at(2)) == at(2) - timedelta(microseconds=1)
    assert watch_diff.just_after(at(2)) == at(2) + timedelta(microseconds=1)


# -- the live phase: a snapshot's changes --

def test_a_snapshots_deletions_are_stamped_just_after_the_previous_snapshot_and_come_first() -> None:
    """A deletion's time is not known, only that it is after the previous snapshot: the
    earliest time it can have is its version, so every event after it is newer."""
    changes = watch_diff.live([("MODIFIED", doc("x", 0, 5)), ("REMOVED", doc("y", 0, 1)), ("ADDED", doc("z", 4, 4))],
                              previous=at(3), read_time=at(9))
    assert summary(changes) == [("DELETED", "y", 3.000001), ("ADDED", "z", 4), ("MODIFIED", "x", 5)]


def apply(client: dict[str, Doc], changes: list[Change]) -> None:
    for change in changes:
        if change.type == "DELETED":
            client.pop(change.doc.path, None)  # a DELETED of what the client lacks is nothing
        else:
            client[change.doc.path] = change.doc  # an ADDED of what it has is an update


def history() -> tuple[list[datetime], dict[datetime, dict[str, Doc]]]:
    """Commits at whole seconds (several documents in one, deletions among them), and
    the state after each."""
    writes: list[dict[str, int | None]] = [  # name -> version written (None: deleted)
        {"a": 1, "b": 1, "c": 1}, {"a": 2, "b": None}, {"d": 1, "e": 1, "c": None}, {"b": 1},
        {"a": None, "d": 2}, {"e": 2, "b": 2, "f": 1}, {"f": None, "e": None, "c": 1}, {"a": 1},
    ]
    state: dict[str, Doc] = {}
    states: dict[datetime, dict[str, Doc]] = {}
    times = []
    for second, commit in enumerate(writes, start=1):
        for name, value in commit.items():
            path = f"namespaces/default/pods/{name}"
            if value is None:
                state.pop(path, None)
            else:
                created = state[path].create_time if path in state else at(second)
                state[path] = Doc(path, {"metadata": {"name": name}, "v": value}, at(second), created)
        times.append(at(second))
        states[at(second)] = dict(state)
    return times, states


def state_at(times: list[datetime], states: dict[datetime, dict[str, Doc]], when: datetime) -> dict[str, Doc]:
    done = [t for t in times if t <= when]
    return dict(states[done[-1]]) if done else {}


@pytest.mark.parametrize("reads", [(1.5, 3.5, 6.5, 8.5), (1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5), (1.5, 8.5)])
def test_a_client_cut_after_any_event_resumes_from_its_version_and_ends_with_the_truth(
        reads: tuple[float, ...]) -> None:
    """The stream's events, snapshot by snapshot (``live``); a client cut after each one
    re-watches from that event's version (``catch_up`` from the state just before it)."""
    times, states = history()
    snapshots = [at(r) for r in reads]
    events: list[Change] = []
    for previous, read_time in itertools.pairwise(snapshots):
        old, new = state_at(times, states, previous), state_at(times, states, read_time)
        listener: list[tuple[watch_diff.ListenerKind, Doc]] = [("REMOVED", doc) for path, doc in old.items() if path not in new]
        listener += [("ADDED" if path not in old else "MODIFIED", doc) for path, doc in new.items()
                     if old.get(path) != doc]
        events += watch_diff.live(listener, previous, read_time)
    versions = [watch_diff.version_number(e.at) for e in events]
    assert versions == sorted(versions)
    truth = state_at(times, states, snapshots[-1])
    for cut in range(len(events) + 1):
        client = state_at(times, states, snapshots[0])
        apply(client, events[:cut])
        since = events[cut - 1].at if cut else snapshots[0]
        before, at_since = (state_at(times, states, when) for when in (watch_diff.just_before(since), since))
        apply(client, catch_up(before.values(), at_since.values(), truth.values(), since))
        assert client == truth, f"cut after {cut} events"


# -- selectors --

def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "default", "name": name, "labels": labels}}


def web(obj: Any) -> bool:
    return bool(obj["metadata"]["labels"].get("app") == "web")


def test_membership_sends_moves_in_and_out_as_added_and_deleted() -> None:
    members = Membership(web)
    members.seed([pod("a", app="web"), pod("b", app="db")])
    assert members.event("MODIFIED", pod("a", app="web")) == "MODIFIED"
    assert members.event("MODIFIED", pod("a", app="db")) == "DELETED"
    assert members.event("MODIFIED", pod("a", app="db")) is None
    assert members.event("MODIFIED", pod("b", app="web")) == "ADDED"
    assert members.event("DELETED", pod("b", app="web")) == "DELETED"
    assert members.event("DELETED", pod("a", app="db")) is None
    assert members.event("ADDED", pod("c", app="db")) is None
    assert members.event("ADDED", pod("d", app="web")) == "ADDED"


def test_an_added_object_the_client_has_already_is_modified() -> None:
    """A namespace served implicitly that gets its document: the listener says ADDED, the
    client has it (from the initial set or its list), so it changed."""
    members = Membership(web)
    members.seed([pod("a", app="web")])
    assert members.event("ADDED", pod("a", app="web")) == "MODIFIED"
    assert members.event("DELETED", pod("a", app="web")) == "DELETED"
    assert members.event("ADDED", pod("a", app="web")) == "ADDED"


def test_what_the_client_may_have_or_not_keeps_the_catch_ups_kind_and_is_deleted() -> None:
    """A watch from a version: what is stamped with it the client may have or not."""
    members = Membership(web)
    members.seed([pod("a", app="web")], maybe=[pod("a", app="web"), pod("b", app="web"), pod("c", app="web")])
    assert members.event("ADDED", pod("b", app="web")) == "ADDED"
    assert members.event("MODIFIED", pod("b", app="web")) == "MODIFIED"
    assert members.event("DELETED", pod("c", app="web")) == "DELETED"
    assert members.event("ADDED", pod("a", app="web")) == "MODIFIED"


def test_bookmark_object() -> None:
    assert watch_diff.bookmark("v1", "Pod", "42", initial_end=True) == {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"resourceVersion": "42", "annotations": {"k8s.io/initial-events-end": "true"}},
    }
