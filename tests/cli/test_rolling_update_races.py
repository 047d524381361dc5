"""``rolling-update``'s writes when something else writes the same documents: a pod's
status changing under its label, a pod the old template makes meanwhile, the new
controller made by a second run. Real Firestore (the emulator); the store only lets
the test make that other write just before a commit, as a concurrent writer would."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pytest

from functions.cli.errors import CliError
from functions.cli.output import Output
from functions.cli.rolling_update import SOURCE_ID, Config, add_deployment_key, target_controller
from functions.store import Create, Doc, Store, Update, Write
from tests.cli.support import data
from tests.helpers import pod_doc, rc_doc, write_rc

PODS = "namespaces/default/pods"
RC = "namespaces/default/replicationControllers"
_touches = itertools.count()


class RacingStore(Store):
    """The real store; ``race(store, writes)`` runs just before each commit."""

    def __init__(self, store: Store, race: Callable[[Store, Sequence[Write]], None]) -> None:
        super().__init__(store.client)
        self.race = race

    def commit(self, writes: Sequence[Write], now: datetime) -> None:
        self.race(self, writes)
        super().commit(writes, now)


def touch(store: Store, path: str) -> None:
    """Another writer (the pod's agent, say) changes the pod."""
    store.client.document(path).update({"status.heartbeat": next(_touches)})


def touching(path: str, times: int) -> Callable[[Store, Sequence[Write]], None]:
    left = [times]

    def race(store: Store, writes: Sequence[Write]) -> None:
        if left[0] > 0 and any(isinstance(w, Update) and w.path == path for w in writes):
            left[0] -= 1
            touch(store, path)
    return race


def setup(store: Store, pods: int = 4) -> Doc:
    write_rc(store, rc_doc("web", pods))
    for i in range(pods):
        store.client.document(f"{PODS}/web-{i}").set(pod_doc(f"web-{i}", {"app": "web"}))
    old = store.get(f"{RC}/web")
    assert old is not None
    return old


def labels(store: Store) -> dict[str, dict[str, Any]]:
    return {s.id: (s.to_dict() or {})["metadata"] for s in store.client.collection(PODS).stream()}


def test_a_pod_that_keeps_changing_stops_the_update_and_nothing_is_deleted(store: Store) -> None:
    racing = RacingStore(store, touching(f"{PODS}/web-2", times=99))
    with pytest.raises(CliError) as raised:
        add_deployment_key(racing, setup(store), "deployment", "abc-orig", "web-next")
    assert raised.value.code == 1
    assert raised.value.lines[0].startswith("error: 1 pod(s) of replicationcontroller/web kept changing while they "
                                            "were labelled deployment=abc-orig: web-2")
    metas = labels(store)
    assert not any("deletionTimestamp" in m for m in metas.values()), metas
    assert {name for name, m in metas.items() if m["labels"].get("deployment") == "abc-orig"} == {"web-0", "web-1", "web-3"}
    assert (data(store, f"{RC}/web") or {})["spec"]["selector"] == {"app": "web"}  # not changed


def test_a_pod_changed_once_is_read_again_and_labelled(store: Store) -> None:
    racing = RacingStore(store, touching(f"{PODS}/web-1", times=2))
    old = add_deployment_key(racing, setup(store), "deployment", "abc-orig", "web-next")
    assert old.data["spec"]["selector"] == {"app": "web", "deployment": "abc-orig"}
    metas = labels(store)
    assert all(m["labels"]["deployment"] == "abc-orig" and "deletionTimestamp" not in m for m in metas.values())


def stray_race(times: int) -> Callable[[Store, Sequence[Write]], None]:
    """The old controller makes a pod from its template as it was before it was labelled,
    just as its selector changes; then the pod changes under its marking ``times`` times."""
    stray = f"{PODS}/web-stray"
    touches = touching(stray, times)

    def race(store: Store, writes: Sequence[Write]) -> None:
        selecting = any(isinstance(w, Update) and w.path == f"{RC}/web"
                        and "deployment" in (w.fields.get("spec") or {}).get("selector", {}) for w in writes)
        if selecting and not store.client.document(stray).get().exists:
            store.client.document(stray).set(pod_doc("web-stray", {"app": "web"}))
        touches(store, writes)
    return race


def test_a_stray_that_keeps_changing_is_a_clear_error(store: Store) -> None:
    with pytest.raises(CliError) as raised:
        add_deployment_key(RacingStore(store, stray_race(99)), setup(store, 2), "deployment", "abc-orig", "web-next")
    assert raised.value.lines[0].startswith("error: 1 pod(s) left out by the new selector of "
                                            "replicationcontroller/web kept changing while they were marked")


def test_a_stray_is_marked_for_deletion_after_a_change(store: Store) -> None:
    add_deployment_key(RacingStore(store, stray_race(1)), setup(store, 2), "deployment", "abc-orig", "web-next")
    metas = labels(store)
    assert "deletionTimestamp" in metas["web-stray"]
    assert not any("deletionTimestamp" in m for name, m in metas.items() if name != "web-stray")


def made_meanwhile(source: str) -> Callable[[Store, Sequence[Write]], None]:
    """A second run of the same update creates the new controller just before this one."""
    def race(store: Store, writes: Sequence[Write]) -> None:
        for w in writes:
            if isinstance(w, Create) and w.path == f"{RC}/web-next":
                store.client.document(w.path).set(w.data)
    return race


def test_a_new_controller_made_meanwhile_is_taken_as_existing(store: Store) -> None:
    config = Config("default", 0.0, 0.0, 1.0, Output())
    planned = rc_doc("web-next", 2)
    new, existed = target_controller(RacingStore(store, made_meanwhile("web:uid")), config, planned, "web:uid")
    assert existed and new.name == "web-next"
    assert new.data["metadata"]["annotations"][SOURCE_ID] == "web:uid"
    with pytest.raises(CliError, match="Missing/unexpected annotations for controller web-next"):
        target_controller(store, config, planned, "other:uid")
