"""The decisions of a watch, with no Firestore in sight: which options a request asks
for, what changed between a resourceVersion and the listener's first snapshot, and
which events a selector turns a change into.

``watch`` feeds these with documents and listener changes; tests feed them with data.
A resourceVersion is a time (``functions.served``): a document's update time, or a
read time. A watch from R is inclusive of R: it sends every change stamped R or later,
compared with the state just before R and at R (``catch_up``), because documents written in one
commit share their update time and a client cut after the first of them has not seen
the others. A client may see again what it had at R (client-go and the Python client
take a repeat as an update); it never misses one. Events are in version order and a
removal, whose exact time Firestore does not tell, is stamped with the earliest time it
can have happened (``live``), so the version of any event is a safe place to resume.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from functions.kubeapi.status import ApiError, Cause, bad_request
from functions.served import resource_version, update_time_of

if TYPE_CHECKING:
    from functions.store import Doc

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
READABLE_PAST = timedelta(minutes=55)  # Firestore reads back an hour; keep a margin
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
NOT_OLDER_THAN = "NotOlderThan"


@dataclass(frozen=True)
class WatchOptions:
    """What the query asks for, checked as the apiserver checks ``ListOptions``."""

    since: datetime | None  # start after this time (resourceVersion=R); None: from now
    since_text: str  # the resourceVersion as given ("" when unset)
    initial_events: bool  # an ADDED for every current object first
    initial_end_bookmark: bool  # sendInitialEvents=true: a BOOKMARK closes the initial set
    bookmarks: bool  # allowWatchBookmarks
    timeout: float | None  # the shorter of timeoutSeconds and timeout, in seconds (None: neither, or 0)


def _flag(query: Mapping[str, str], name: str) -> bool | None:
    """A boolean query parameter as Go's strconv.ParseBool reads it; None when absent."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if raw in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if raw in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise bad_request(f'{name}: Invalid value: "{raw}": must be true or false')


def _list_options_invalid(causes: list[Cause]) -> ApiError:
    parts = [f"{c.field}: {c.message}" for c in causes]
    listed = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    message = f'ListOptions.meta.k8s.io "" is invalid: {listed}'
    return ApiError(422, "Invalid", message, "ListOptions", "", "meta.k8s.io", causes)


def parse_options(query: Mapping[str, str]) -> WatchOptions:
    """The watch options of a query; ``ApiError`` 400 for a value that does not parse,
    422 for a combination the apiserver forbids (its ``validateWatchOptions``)."""
    version = query.get("resourceVersion", "")
    since: datetime | None = None
    if version not in ("", "0"):
        since = update_time_of(version)
        if since is None:
            raise bad_request(f'resourceVersion: Invalid value: "{version}": invalid resource version')
    send_initial = _flag(query, "sendInitialEvents")
    bookmarks = bool(_flag(query, "allowWatchBookmarks"))
    match = query.get("resourceVersionMatch", "")
    causes: list[Cause] = []
    if send_initial is not None and match != NOT_OLDER_THAN:
        causes.append(Cause(f"Forbidden: sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}",
                            "resourceVersionMatch", "FieldValueForbidden"))
    if match:
        if send_initial is None:
            causes.append(Cause("Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents "
                                "is provided", "resourceVersionMatch", "FieldValueForbidden"))
        if match != NOT_OLDER_THAN:
            causes.append(Cause(f'Unsupported value: "{match}": supported values: "{NOT_OLDER_THAN}"',
                                "resourceVersionMatch", "FieldValueNotSupported"))
    if causes:
        raise _list_options_invalid(causes)
    timeout = _timeout(query)
    # unset: the current state first when resourceVersion is unset or "0" (the legacy default)
    initial = since is None if send_initial is None else send_initial
    return WatchOptions(
        since=None if initial else since,  # NotOlderThan R: the current state is newer
        since_text=version,
        initial_events=initial,
        initial_end_bookmark=bool(send_initial),
        bookmarks=bookmarks,
        timeout=timeout,
    )


def _timeout(query: Mapping[str, str]) -> float | None:
    """The shorter of ``timeoutSeconds`` (the watch's own bound) and ``timeout`` (the
    request's, a Go duration: kubectl's ``--request-timeout`` sends ``timeout=4s``), in
    seconds; one that is 0 or less bounds nothing."""
    bounds: list[float] = []
    raw_seconds = query.get("timeoutSeconds", "")
    if raw_seconds:
        try:
            bounds.append(float(int(raw_seconds)))
        except ValueError:
            raise bad_request(f'timeoutSeconds: Invalid value: "{raw_seconds}": must be an integer') from None
    raw_timeout = query.get("timeout", "")
    if raw_timeout:
        try:
            bounds.append(go_duration(raw_timeout))
        except ValueError as error:  # the apiserver's words (its request deadline filter)
            raise bad_request(f"invalid timeout specified in the request URL - {error}") from None
    positive = [bound for bound in bounds if bound > 0]
    return min(positive) if positive else None


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def go_duration(text: str) -> float:
    """Seconds of a Go ``time.Duration`` text ("4s", "1m0s", "500ms", "1h2m3s", "-1.5h",
    "0"), as ``time.ParseDuration`` reads it; ``ValueError`` with its message otherwise."""
    quoted = json.dumps(text, ensure_ascii=False)
    rest = text[1:] if text[:1] in ("+", "-") else text
    sign = -1.0 if text[:1] == "-" else 1.0
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0.0
    while rest:
        part = _GO_PART.match(rest)
        assert part is not None  # both groups may be empty: the pattern always matches
        number, unit = part.groups()
        if number in ("", "."):
            raise ValueError(f"time: invalid duration {quoted}")
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _GO_UNITS:
            raise ValueError(f"time: unknown unit {json.dumps(unit, ensure_ascii=False)} in duration {quoted}")
        total += float(number) * _GO_UNITS[unit]
        rest = rest[part.end():]
    return sign * total


def duration(options: WatchOptions, bound: float) -> float:
    """How long this watch runs: ``timeoutSeconds`` or ``timeout`` if shorter than the
    bound (``Settings.watch_seconds``, from ``FIRECONTROL_WATCH_SECONDS``)."""
    return min(options.timeout, bound) if options.timeout is not None else bound


def too_old(since: datetime, now: datetime) -> bool:
    """Older than Firestore can read back: the client must relist (410)."""
    return since < now - READABLE_PAST


def version_number(when: datetime) -> int:
    return int(resource_version(when))


def just_before(when: datetime) -> datetime:
    """The last time before ``when`` a version can name (versions are microseconds): the
    state a watch from ``when`` compares with, so that what is stamped ``when`` is sent."""
    found = update_time_of(str(version_number(when) - 1))
    assert found is not None
    return found


def just_after(when: datetime) -> datetime:
    """The first time after ``when`` a version can name."""
    found = update_time_of(str(version_number(when) + 1))
    assert found is not None
    return found


@dataclass(frozen=True)
class Change:
    """One event about one document before selectors: ``doc`` is its state (for a
    DELETED its last state), ``at`` the time the event is true at (its resourceVersion)."""

    type: EventType
    doc: Doc
    at: datetime

    @property
    def order(self) -> tuple[int, int, str]:
        rank = 0 if self.type == "DELETED" else 1  # a name made again: DELETED, then ADDED
        return version_number(self.at), rank, self.doc.path


def ordered(changes: Iterable[Change]) -> list[Change]:
    """By resourceVersion, never decreasing, so the version of any event is one to resume
    from (``catch_up``)."""
    return sorted(changes, key=lambda c: c.order)


def initial(current: Iterable[Doc]) -> list[Change]:
    """An ADDED for every current document."""
    return ordered(Change("ADDED", doc, doc.update_time) for doc in current)


ListenerKind = Literal["ADDED", "MODIFIED", "REMOVED"]


def live(changes: Iterable[tuple[ListenerKind, Doc]], previous: datetime | None, read_time: datetime) -> list[Change]:
    """A listener snapshot's changes as events. ADDED and MODIFIED carry the document's
    update time. A REMOVED (deleted, or out of the listened query) happened after the
    previous snapshot's read time and by this one's, when is not known: it is stamped
    ``just_after(previous)``, the earliest it can be, so every event after it is newer and
    a client cut anywhere resumes (inclusive, from the state just before its version)
    with the removal still ahead of it."""
    removed_at = just_after(previous) if previous is not None else read_time
    return ordered(Change("DELETED", doc, removed_at) if kind == "REMOVED"
                   else Change(kind, doc, doc.update_time) for kind, doc in changes)


def catch_up(before: Iterable[Doc], at: Iterable[Doc], current: Iterable[Doc], since: datetime) -> list[Change]:
    """What a watch from ``since`` sends first: the changes from the past to ``current``
    (the listener's first snapshot). The past is two reads: ``before``, the state
    ``just_before(since)``, and ``at``, the state at ``since``.

    A version is inclusive: every document written in one commit has the same update
    time, so a client holding a version may have some of the events stamped with it and
    not others, and may hold anything between the two states. A document updated at or
    after ``since`` is ADDED if it was not there before, MODIFIED if it was, DELETED then
    ADDED if it was made again (a newer creation than the past's). One in either past
    state and gone now is DELETED with its last state (one made at ``since`` and deleted
    since is in ``at`` alone). A client may see again what it had at ``since``, or a
    DELETED of what it never had; it misses nothing. A deletion happened at or after
    ``since``: it is stamped ``since``, the earliest it can be, so the events are in
    version order and any of them is one to resume from."""
    old_state = {doc.path: doc for doc in before}
    last = {**old_state, **{doc.path: doc for doc in at}}  # each path's latest past state
    mark = version_number(since)
    changes: list[Change] = []
    seen: set[str] = set()
    for doc in current:
        seen.add(doc.path)
        if version_number(doc.update_time) < mark:
            continue
        old = last.get(doc.path)
        if old is None:
            changes.append(Change("ADDED", doc, doc.update_time))
        elif version_number(doc.create_time) > version_number(old.create_time):
            changes.append(Change("DELETED", old, since))
            changes.append(Change("ADDED", doc, doc.update_time))
        else:
            changes.append(Change("MODIFIED" if doc.path in old_state else "ADDED", doc, doc.update_time))
    changes.extend(Change("DELETED", old, since) for path, old in last.items() if path not in seen)
    return ordered(changes)


def key_of(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


@dataclass
class Membership:
    """Which objects the watch's selectors match, so that a change in or out of the
    selection is sent as ADDED or DELETED (the apiserver's watch cache does the same)."""

    matches: Callable[[Mapping[str, Any]], bool]
    inside: set[str] = field(default_factory=set)
    unsure: set[str] = field(default_factory=set)  # the client may have these or not

    def seed(self, objects: Iterable[Mapping[str, Any]], maybe: Iterable[Mapping[str, Any]] = ()) -> None:
        """The objects the client already has (the state it watches from), and those it
        may have or not (a watch from a version: what is stamped with it)."""
        self.inside = {key_of(obj) for obj in objects if self.matches(obj)}
        maybe_inside = {key_of(obj) for obj in maybe if self.matches(obj)}
        self.unsure = maybe_inside ^ self.inside if maybe else set()
        self.inside |= maybe_inside

    def event(self, kind: EventType, obj: Mapping[str, Any]) -> EventType | None:
        """The event to send for a change of ``obj``, or None when the client must not
        hear of it. Of an object the client may have or not, a DELETED is sent and an
        ADDED or MODIFIED stays what the catch-up found."""
        key = key_of(obj)
        was = key in self.inside
        unsure = key in self.unsure
        self.unsure.discard(key)
        if kind == "DELETED":
            self.inside.discard(key)
            return "DELETED" if was else None
        if self.matches(obj):
            self.inside.add(key)
            if unsure:
                return kind
            # ADDED of what the client has already (a namespace served with no document
            # that gets one) is a change to it
            return "MODIFIED" if was else "ADDED"
        self.inside.discard(key)
        return "DELETED" if was else None


def bookmark(api_version: str, kind: str, version: str, initial_end: bool = False) -> dict[str, Any]:
    """A BOOKMARK's object: the kind with nothing but a resourceVersion (and the
    annotation that closes a ``sendInitialEvents`` set)."""
    meta: dict[str, Any] = {"resourceVersion": version}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": kind, "apiVersion": api_version, "metadata": meta}
