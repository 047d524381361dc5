"""scale (validated against the cap before writing) and delete, with and without --wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from functions.store import Store
from tests.cli.support import FIXTURES, Cli, data, names
from tests.helpers import wait_for

RC = "namespaces/default/replicationControllers"


def test_scale_v1_and_2014(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app.yaml"), "-f", str(FIXTURES / "rc-2014.json")).code == 0
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
