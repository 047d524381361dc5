"""Generated malformed controllers: each gets a clear condition and event, nothing else happens."""

from __future__ import annotations

import contextlib
import copy
import itertools
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.controllers.replication import sync_controller
from functions.runtime import Runtime
from functions.store import CONTROLLERS, doc_path
from tests.helpers import pods, rc_data, rc_doc

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
HOSTILE = st.sampled_from(
    ["", " ", "$(reboot)", "; rm -rf /", "'\"`", "a\nb", "\u202etxt", "Ω" * 70, "x" * 300, "../..", "UPPER", "-a-"]
)
JUNK = st.one_of(st.none(), st.booleans(), INT64, st.floats(allow_nan=False), HOSTILE, st.lists(INT64, max_size=3))


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def _del(doc: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    target = doc
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return doc


CONTAINER = ("spec", "template", "spec", "containers")
MUTATIONS: list[Any] = [
    # replicas: negative, over the cap, or not an integer at all
    st.integers(min_value=-(2**63), max_value=-1).map(lambda n: lambda d: _set(d, ("spec", "replicas"), n)),
    st.integers(min_value=101, max_value=2**63 - 1).map(lambda n: lambda d: _set(d, ("spec", "replicas"), n)),
    st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), HOSTILE, st.just([3])).map(
        lambda v: lambda d: _set(d, ("spec", "replicas"), v)
    ),
    # selector: empty with no template labels, or not matching them
    st.just(lambda d: _set(_set(d, ("spec", "selector"), {}), ("spec", "template", "metadata", "labels"), {})),
    st.text(min_size=1, max_size=20).map(lambda v: lambda d: _set(d, ("spec", "selector"), {"app": v + "-x"})),
    # (not "" or "UPPER": valid labels, which an emptied selector defaults to)
    HOSTILE.filter(lambda v: v not in ("", "UPPER")).map(lambda v: lambda d: _set(d, ("spec", "template", "metadata", "labels"), {v: v})),
    # the pod template: no containers, no image, a bad container name or port
    st.just(lambda d: _set(d, CONTAINER, [])),
    st.just(lambda d: _del(d, ("spec", "template", "spec"))),
    st.just(lambda d: _del(d, ("spec", "template"))),
    st.sampled_from(["", "  "]).map(lambda v: lambda d: _set(d, (*CONTAINER[:-1], "containers"), [{"name": "a", "image": v}])),
    HOSTILE.map(lambda v: lambda d: _set(d, CONTAINER, [{"name": v, "image": "nginx"}])),
    st.integers(min_value=65536, max_value=2**40).map(
        lambda p: lambda d: _set(d, CONTAINER, [{"name": "a", "image": "x", "ports": [{"containerPort": p}]}])
    ),
    JUNK.map(lambda v: lambda d: _set(d, CONTAINER, v)),
    # whole parts of the wrong type
    JUNK.map(lambda v: lambda d: _set(d, ("spec",), v)),
    JUNK.map(lambda v: lambda d: _set(d, ("metadata",), v)),
    st.sampled_from(["Pod", "Service", "", "replicationcontroller"]).map(lambda k: lambda d: _set(d, ("kind",), k)),
    HOSTILE.map(lambda v: lambda d: _set(d, ("metadata", "name"), v)),
]

_ids = itertools.count()
PATH_FIRST = re.compile(r"^(\(document\)|[a-zA-Z]+(\.[a-zA-Z]+|\[\d+\])*): \S")


@st.composite
def malformed(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    doc = copy.deepcopy(rc_doc("web", 2))
    for mutation in draw(st.lists(st.one_of(MUTATIONS), min_size=1, max_size=3)):
        # an earlier mutation may have removed or replaced the parent: still malformed
        with contextlib.suppress(KeyError, TypeError):
            doc = mutation(doc)
    bad_id = draw(st.booleans()) and draw(st.sampled_from(["Web", "web_1", "web.1", "x" * 40, "9web", "we b"]))
    name = bad_id or "web"
    if bad_id and isinstance(doc.get("metadata"), dict):
        doc["metadata"]["name"] = name
    return name, doc


@settings(max_examples=220, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=malformed())
def test_malformed_controller_gets_condition_and_event(rt: Runtime, case: tuple[str, dict[str, Any]]) -> None:
    name, doc = case
    namespace = f"ns{next(_ids)}"
    rt.store.client.document(doc_path(namespace, CONTROLLERS, name)).set(doc)

    result = sync_controller(rt.store, rt.settings, namespace, name, rt.clock)  # must not raise

    assert result.invalid and result.created == 0
    assert pods(rt.store, namespace) == []
    status = rc_data(rt.store, name, namespace)["status"]
    [condition] = [c for c in status["conditions"] if c["type"] == "ReplicaFailure"]
    assert condition["reason"] == "InvalidSpec" and condition["status"] == "True"
    message = condition["message"]
    assert PATH_FIRST.match(message), message  # the message starts with the path at fault
    events = [e.to_dict() or {} for e in rt.store.client.collection(f"namespaces/{namespace}/events").stream()]
    assert [(e["reason"], e["type"], e["message"]) for e in events] == [("InvalidSpec", "Warning", message)]
