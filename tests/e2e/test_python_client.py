"""The official ``kubernetes`` Python client against the local stack through ``kube_api``,
configured from the kubeconfig ``python main.py up`` wrote: it lists, creates, watches
(a watch sees a scale) and patches (strategic merge, merge, JSON patch) the objects,
and what it is served survives its models unchanged."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch

from tests.e2e.stack import CLIENT_SETTINGS, ROOT, Json, Stack, running_stack
from tests.helpers import wait_for

pytestmark = pytest.mark.slow
NS = "client"
GUESTBOOK = ROOT / "tests" / "fixtures" / "guestbook"
STRATEGIC, MERGE, JSON_PATCH = ("application/strategic-merge-patch+json", "application/merge-patch+json",
                                "application/json-patch+json")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("python-client"), CLIENT_SETTINGS) as running:
        yield running


@pytest.fixture(scope="module")
def api(stack: Stack) -> Any:
    return config.new_client_from_config(config_file=stack.endpoints["kubeconfig"], context="firecontrol-local")


@pytest.fixture(scope="module")
def core(api: Any) -> Any:
    return client.CoreV1Api(api)


@pytest.fixture(scope="module")
def apps(api: Any) -> Any:
    return client.AppsV1Api(api)


def _rc(name: str, replicas: int) -> Any:
    return client.V1ReplicationController(
        api_version="v1", kind="ReplicationController", metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1ReplicationControllerSpec(
            replicas=replicas, selector={"app": name},
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx:1.27")]))))


@pytest.fixture(scope="module")
def web(core: Any) -> Any:
    """A replication controller created through the client: what it answered."""
    return core.create_namespaced_replication_controller(NS, _rc("web", 2))


def _timestamps_as_served(value: Any) -> Any:
    """The client writes a datetime back as ``+00:00`` where Kubernetes (and kube_api) write
    ``Z``: the same instant, so compare them as such."""
    if isinstance(value, dict):
        return {k: _timestamps_as_served(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_timestamps_as_served(v) for v in value]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", value):
        return value.removesuffix("+00:00") + "Z"
    return value


def _raw(method: Any, *args: Any) -> Json:
    """What kube_api sent, before the client's models saw it."""
    response = method(*args, _preload_content=False)
    loaded: Json = json.loads(response.data)
    return loaded


def test_create_answers_the_object_as_the_client_sent_it(web: Any) -> None:
    assert web.metadata.name == "web" and web.metadata.namespace == NS
    assert web.metadata.uid and web.metadata.resource_version and web.metadata.generation == 1
    assert web.metadata.creation_timestamp is not None
    assert web.spec.replicas == 2 and web.spec.template.spec.containers[0].image == "nginx:1.27"


def test_lists_are_typed_and_selected(core: Any, apps: Any, web: Any, stack: Stack) -> None:
    stack.kubectl_ok("apply", "-n", NS, "-f", str(GUESTBOOK))
    rcs = core.list_namespaced_replication_controller(NS)
    assert [rc.metadata.name for rc in rcs.items] == ["web"]
    assert rcs.metadata.resource_version
    assert len(apps.list_namespaced_deployment(NS).items) == 3
    # A ReplicaSet carries its template's labels (and the hash), as the Deployment controller writes it.
    sets = wait_for(lambda: [s for s in apps.list_namespaced_replica_set(
        NS, label_selector="app in (redis),tier=backend").items] if len(apps.list_namespaced_replica_set(NS).items) == 3
        else None, timeout=30, interval=0.3)
    assert sorted(s.metadata.name.rsplit("-", 1)[0] for s in sets) == ["redis-master", "redis-replica"]
    assert apps.list_namespaced_replica_set(NS, label_selector="app notin (redis)").items[0].metadata.labels[
        "tier"] == "frontend"
    wait_for(lambda: len(core.list_namespaced_pod(NS, label_selector="app=web").items) == 2, timeout=30, interval=0.3)
    everywhere = core.list_pod_for_all_namespaces(label_selector="app=web")
    assert {p.metadata.namespace for p in everywhere.items} == {NS}
    # Pages of one snapshot (pods come and go meanwhile): the second has what the first said remained.
    page = core.list_namespaced_pod(NS, limit=2)
    assert len(page.items) == 2 and page.metadata._continue and page.metadata.remaining_item_count >= 1
    rest = core.list_namespaced_pod(NS, limit=100, _continue=page.metadata._continue)
    names = [p.metadata.name for p in page.items + rest.items]
    assert len(rest.items) == page.metadata.remaining_item_count and len(names) == len(set(names))
    assert not rest.metadata._continue and rest.metadata.resource_version == page.metadata.resource_version
    services = core.list_namespaced_service(NS, field_selector="metadata.name=frontend")
    assert [s.spec.type for s in services.items] == ["NodePort"]


def test_what_is_served_survives_the_client_s_models(api: Any, core: Any, apps: Any, web: Any) -> None:
    """The schema oracle: every object deserialized into the official models and serialized
    again is what kube_api sent, with no field lost or renamed."""
    wait_for(lambda: all(p.status.pod_ip for p in core.list_namespaced_pod(NS, label_selector="app=web").items),
             timeout=30, interval=0.3)
    for method, model in ((core.list_namespaced_pod, "V1PodList"),
                          (core.list_namespaced_replication_controller, "V1ReplicationControllerList"),
                          (core.list_namespaced_service, "V1ServiceList"),
                          (apps.list_namespaced_deployment, "V1DeploymentList"),
                          (apps.list_namespaced_replica_set, "V1ReplicaSetList")):
        raw = _raw(method, NS)
        assert raw["items"], model
        for item in raw["items"]:
            item_model = getattr(client, model.removesuffix("List"))
            again = _timestamps_as_served(api.sanitize_for_serialization(item_model.from_dict(item)))
            assert again == item, (model, item["metadata"]["name"])


def test_a_watch_sees_a_scale(core: Any, web: Any) -> None:
    listed = core.list_namespaced_replication_controller(NS)
    events: list[tuple[str, int, str]] = []
    watcher = watch.Watch()

    errors: list[BaseException] = []

    def follow() -> None:
        try:
            for event in watcher.stream(core.list_namespaced_replication_controller, NS,
                                        resource_version=listed.metadata.resource_version, timeout_seconds=30):
                rc = event["object"]
                events.append((event["type"], rc.spec.replicas, rc.metadata.resource_version))
                if rc.spec.replicas == 4 and rc.status is not None and rc.status.replicas == 4:
                    watcher.stop()
        except BaseException as error:  # shown by the test, not lost in the thread
            errors.append(error)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    scale = core.patch_namespaced_replication_controller_scale("web", NS, {"spec": {"replicas": 4}},
                                                               _content_type=MERGE)
    assert scale.spec.replicas == 4 and scale.kind == "Scale"
    thread.join(timeout=40)
    assert not thread.is_alive() and not errors, (events, errors)
    # From the list's version: only what changed after it (status updates of the two pods'
    # controller, then the scale), never an ADDED for what the list had.
    assert [kind for kind, _, _ in events] == ["MODIFIED"] * len(events), (listed.metadata.resource_version, events)
    assert events[-1][1] == 4, events
    assert [replicas for _, replicas, _ in events] == sorted(replicas for _, replicas, _ in events), events
    assert core.read_namespaced_replication_controller_scale("web", NS).status.replicas == 4


def test_patches_strategic_merge_and_json(core: Any, web: Any) -> None:
    sidecar = {"spec": {"template": {"spec": {"containers": [{"name": "log", "image": "busybox:1.36"}]}}}}
    # Strategic merge: containers merge by name, the sidecar joins web (in the apiserver's
    # order: the patch's new items before the server's own, mergeSortedSlice).
    merged = core.patch_namespaced_replication_controller("web", NS, sidecar, _content_type=STRATEGIC)
    assert [c.name for c in merged.spec.template.spec.containers] == ["log", "web"]
    assert merged.metadata.generation == web.metadata.generation + 2  # the scale, then this
    # Strategic merge's directives: delete one element by its key.
    deleted = core.patch_namespaced_replication_controller(
        "web", NS, {"spec": {"template": {"spec": {"containers": [{"name": "log", "$patch": "delete"}]}}}},
        _content_type=STRATEGIC)
    assert [(c.name, c.image) for c in deleted.spec.template.spec.containers] == [("web", "nginx:1.27")]
    # Merge patch (RFC 7386): a list is replaced whole; null removes a key.
    replaced = core.patch_namespaced_replication_controller("web", NS, {
        "metadata": {"labels": {"app": "web", "tier": "front"}, "annotations": {"note": "merge"}},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}}, _content_type=MERGE)
    assert [(c.name, c.image) for c in replaced.spec.template.spec.containers] == [("web", "nginx:1.28")]
    assert replaced.metadata.labels == {"app": "web", "tier": "front"}
    removed = core.patch_namespaced_replication_controller("web", NS, {"metadata": {"annotations": {"note": None}}},
                                                           _content_type=MERGE)
    assert "note" not in (removed.metadata.annotations or {})
    # JSON patch (RFC 6902), with a test that holds and one that does not.
    patched = core.patch_namespaced_replication_controller("web", NS, [
        {"op": "test", "path": "/spec/replicas", "value": 4},
        {"op": "replace", "path": "/spec/replicas", "value": 3}], _content_type=JSON_PATCH)
    assert patched.spec.replicas == 3
    with pytest.raises(client.ApiException) as failed:
        core.patch_namespaced_replication_controller("web", NS, [
            {"op": "test", "path": "/spec/replicas", "value": 99}], _content_type=JSON_PATCH)
    assert failed.value.status in (409, 422), failed.value.body
    # A stale resourceVersion in a patch is a conflict, as the apiserver answers it.
    with pytest.raises(client.ApiException) as stale:
        core.patch_namespaced_replication_controller(
            "web", NS, {"metadata": {"resourceVersion": web.metadata.resource_version, "labels": {"x": "y"}}},
            _content_type=MERGE)
    assert stale.value.status == 409 and json.loads(stale.value.body)["reason"] == "Conflict"
    wait_for(lambda: len(core.list_namespaced_pod(NS, label_selector="app=web").items) == 3, timeout=30, interval=0.3)


def test_errors_are_status_objects(core: Any) -> None:
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_replication_controller("nope", NS)
    body = json.loads(missing.value.body)
    assert missing.value.status == 404
    assert (body["kind"], body["reason"], body["details"]["name"]) == ("Status", "NotFound", "nope")
    with pytest.raises(client.ApiException) as invalid:
        core.create_namespaced_replication_controller(NS, _rc("bad", -1))
    body = json.loads(invalid.value.body)
    assert invalid.value.status == 422 and body["reason"] == "Invalid"
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.replicas"]
    with pytest.raises(client.ApiException) as exists:
        core.create_namespaced_replication_controller(NS, _rc("web", 1))
    assert exists.value.status == 409 and json.loads(exists.value.body)["reason"] == "AlreadyExists"
