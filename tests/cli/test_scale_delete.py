"""scale (validated against the cap before writing) and delete, with and without --wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from functions.store import Store
from tests.cli.support import FIXTURES, SHARED_FIXTURES, Cli, data, names
from tests.helpers import wait_for

RC = "namespaces/default/replicationControllers"


def test_scale_v1_and_2014(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app.yaml"), "-f", str(SHARED_FIXTURES / "rc-2014.json")).code == 0
    result = cli("scale", "rc", "web", "--replicas", "5")
    assert (result.code, result.out) == (0, "replicationcontroller/web scaled\n")
    assert (data(store, f"{RC}/web") or {})["spec"]["replicas"] == 5
    assert cli("scale", "rc/nginx-controller", "--replicas", "0").code == 0
    assert (data(store, f"{RC}/nginx-controller") or {})["desiredState"]["replicas"] == 0


def test_scale_over_the_cap_writes_nothing(cli: Cli, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    before = store.client.document(f"{RC}/web").get().update_time
    monkeypatch.setenv("FIRECONTROL_MAX_REPLICAS", "10")
    result = cli("scale", "rc", "web", "--replicas", "11")
    assert result.code == 1
    assert "replicationcontroller/web: spec.replicas: 11 is over this installation's cap of 10" in result.err
    assert store.client.document(f"{RC}/web").get().update_time == before
    assert cli("scale", "rc", "nope", "--replicas", "1").code == 1
    assert cli("scale", "rc", "web", "--replicas", "-1").code == 2
    assert cli("scale", "svc", "web", "--replicas", "1").code == 2


def test_delete_each_kind(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    store.client.document("namespaces/default/services/web").update({"metadata.finalizers": ["firecontrol.io/load-balancer"]})

    assert cli("delete", "rc", "web").out == "replicationcontroller/web deleted\n"
    assert names(store, "replicationControllers") == []
    assert cli("delete", "pod", "debug").out == "pod/debug deleted\n"
    assert names(store, "pods") == []
    marked = cli("delete", "svc", "web")
    assert (marked.code, marked.out) == (0, "service/web marked for deletion\n")
    svc = data(store, "namespaces/default/services/web") or {}
    assert svc["metadata"]["deletionTimestamp"] is not None
    assert svc["metadata"]["finalizers"] == ["firecontrol.io/load-balancer"]

    missing = cli("delete", "rc", "web")
    assert missing.code == 1 and 'replicationcontrollers "web" not found' in missing.err
    assert cli("delete", "rc", "web", "--ignore-not-found").code == 0


def owned_pods(store: Store, uid: str, count: int) -> None:
    for index in range(count):
        store.client.document(f"namespaces/default/pods/web-{index}").set({
            "metadata": {"name": f"web-{index}", "labels": {"app": "web"}, "ownerReferences": [
                {"apiVersion": "v1", "kind": "ReplicationController", "name": "web", "uid": uid, "controller": True}]},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        })


@contextmanager
def function_after(delay: float, act: object) -> Iterator[None]:
    """Stands in for the cloud function: acts on Firestore from a thread after ``delay``."""
    assert callable(act)
    thread = threading.Thread(target=lambda: (time.sleep(delay), act()))
    thread.start()
    try:
        yield
    finally:
        thread.join()


def test_delete_rc_waits_for_its_pods(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    store.client.document(f"{RC}/web").update({"metadata.uid": "u-web"})
    owned_pods(store, "u-web", 2)

    def cascade() -> None:
        for index in range(2):
            store.client.document(f"namespaces/default/pods/web-{index}").delete()

    started = time.monotonic()
    with function_after(0.6, cascade):
        result = cli("delete", "rc", "web", "--wait", "--timeout", "10")
    assert (result.code, result.out) == (0, "replicationcontroller/web deleted\n")
    assert time.monotonic() - started >= 0.6
    assert names(store, "pods") == ["debug"]  # not owned by web: untouched


def test_delete_service_waits_for_the_function(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    path = "namespaces/default/services/web"
    store.client.document(path).update({"metadata.finalizers": ["firecontrol.io/load-balancer"]})

    def teardown() -> None:  # as the function does: only once the CLI has marked it
        wait_for(lambda: (data(store, path) or {})["metadata"].get("deletionTimestamp") is not None, timeout=8)
        store.client.document(path).delete()

    with function_after(0.5, teardown):
        result = cli("delete", "service", "web", "--wait", "--timeout", "10")
    assert (result.code, result.out) == (0, "service/web deleted\n")
    assert data(store, path) is None


def test_delete_wait_times_out(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    store.client.document(f"{RC}/web").update({"metadata.uid": "u-web"})
    owned_pods(store, "u-web", 2)
    started = time.monotonic()
    result = cli("delete", "rc", "web", "--wait", "--timeout", "0.5")
    assert result.code == 1
    assert "timed out after 0.5 s waiting for replicationcontroller/web to be deleted" in result.err
    assert "the document is gone; 2 pod(s) left" in result.err
    assert 0.5 <= time.monotonic() - started < 5


# -- issue 13: delete -f, and kubectl's --cascade ------------------------------------------------


def test_delete_by_file_folder_and_stdin(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app.yaml"), "-f", str(FIXTURES / "app")).code == 0
    result = cli("delete", "-f", str(FIXTURES / "app.yaml"))
    assert result.code == 0, result.err
    assert result.out.splitlines() == ["replicationcontroller/web deleted", "service/web deleted", "pod/debug deleted"]
    assert names(store, "pods") == [] and names(store, "replicationControllers") == ["api"]
    folder = cli("delete", "-f", str(FIXTURES / "app"))
    assert folder.out.splitlines() == ["replicationcontroller/api deleted", "service/api deleted"], folder.err
    assert names(store, "replicationControllers") == [] and names(store, "services") == []

    assert cli("apply", "-f", str(SHARED_FIXTURES / "rc-2014.json"), "-n", "team").code == 0
    piped = cli("delete", "-f", "-", "-n", "team", stdin=(SHARED_FIXTURES / "rc-2014.json").read_text())
    assert (piped.code, piped.out) == (0, "replicationcontroller/nginx-controller deleted\n"), piped.err
    assert names(store, "replicationControllers", "team") == []


def test_delete_by_file_of_missing_objects(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app" / "api-rc.yaml")).code == 0
    result = cli("delete", "-f", str(FIXTURES / "app"))
    assert result.code == 1 and result.out == "replicationcontroller/api deleted\n"
    assert 'services "api" not found' in result.err
    assert cli("delete", "-f", str(FIXTURES / "app"), "--ignore-not-found").code == 0
    both = cli("delete", "rc", "web", "-f", str(FIXTURES / "app"))
    assert both.code == 2 and "either KIND NAME or -f" in both.err


@pytest.mark.parametrize(("cascade", "finalizer"), [("orphan", "orphan"), ("foreground", "foregroundDeletion")])
def test_delete_cascade_orphan_and_foreground_mark_the_controller(cli: Cli, store: Store, cascade: str,
                                                                  finalizer: str) -> None:
    """docs/kube-api.md §8: the owner's pass finishes what the marks ask."""
    assert cli("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    result = cli("delete", "rc", "web", f"--cascade={cascade}")
    assert (result.code, result.out) == (0, "replicationcontroller/web marked for deletion\n"), result.err
    rc = data(store, f"{RC}/web") or {}
    assert rc["metadata"]["deletionTimestamp"] is not None and rc["metadata"]["finalizers"] == [finalizer]
    again = cli("delete", "rc", "web", f"--cascade={cascade}")  # marked already: nothing more written
    assert again.code == 0 and (data(store, f"{RC}/web") or {})["metadata"]["finalizers"] == [finalizer]
    assert cli("delete", "rc", "web", "--cascade=sideways").code == 2


def test_delete_cascade_background_is_todays_delete(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    assert cli("delete", "rc", "web", "--cascade=background").out == "replicationcontroller/web deleted\n"
    assert names(store, "replicationControllers") == []
