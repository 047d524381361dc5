"""describe: spec summary, status, conditions, validation problems and events, newest last."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from functions.objects import event_for
from functions.store import Store
from tests.cli.support import FIXTURES, Cli

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_controller_with_conditions_and_events(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    condition = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                 "message": "quota exceeded", "lastTransitionTime": T0}
    store.client.document("namespaces/default/replicationControllers/web").update(
        {"status": {"replicas": 1, "readyReplicas": 1, "conditions": [condition]}})
    older = event_for("ReplicationController", "default", "web", "u-1", "SuccessfulCreate", "Created pod: web-aaaaa")
    newer = event_for("ReplicationController", "default", "web", "u-1", "FailedCreate", "quota exceeded", "Warning")
    unrelated = event_for("Service", "default", "web", "u-2", "EnsuredLoadBalancer", "ok")
    now = datetime.now(UTC)
    store.commit([newer], now - timedelta(seconds=5))
    store.commit([older, unrelated], now - timedelta(minutes=5))

    result = cli("describe", "rc", "web")
    assert result.code == 0, result.err
    out = result.out
    assert "Name:             web" in out
    assert "Replicas:         1 current / 3 desired" in out
    assert "Selector:         app=web" in out
    assert "Container:        nginx  image nginx:1.27  ports 80/TCP" in out
    condition_row = next(line for line in out.splitlines() if line.startswith("ReplicaFailure"))
    assert condition_row.split()[:3] == ["ReplicaFailure", "True", "FailedCreate"]
    assert "quota exceeded" in condition_row and "2024-05-01T12:00:00Z" in condition_row
    events = out[out.index("Events:"):]
    assert events.index("SuccessfulCreate") < events.index("FailedCreate")  # newest last
    assert "EnsuredLoadBalancer" not in out
    assert "Problems:" not in out


def test_invalid_object_shows_the_parsers_messages(cli: Cli, store: Store) -> None:
    store.client.document("namespaces/default/services/front").set(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "front"},
         "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    result = cli("describe", "svc/front")
    assert result.code == 0
    assert "Problems:\n  spec.selector: a LoadBalancer service needs a selector to find its pods" in result.out
    assert "LoadBalancer IP:  <pending>" in result.out
    assert "Events:           <none>" in result.out


def test_pod_and_not_found(cli: Cli, store: Store) -> None:
    store.client.document("namespaces/default/pods/web-abcde").set({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-abcde", "labels": {"app": "web"}, "deletionTimestamp": T0,
                     "ownerReferences": [{"kind": "ReplicationController", "name": "web", "uid": "u", "controller": True}]},
        "spec": {"containers": [{"name": "web", "image": "nginx"}], "nodeName": "fc-1-web-abcde"},
        "status": {"phase": "Running", "podIP": "10.0.0.9"},
    })
    pod = cli("describe", "pod", "web-abcde")
    assert "Status:           Terminating" in pod.out
    assert "Controlled By:    ReplicationController/web" in pod.out
    assert "Node:             fc-1-web-abcde" in pod.out
    missing = cli("describe", "rc", "nope")
    assert missing.code == 1 and 'replicationcontrollers "nope" not found' in missing.err
    usage = cli("describe", "rc")
    assert usage.code == 2


def test_controller_whose_selector_was_defaulted_shows_it(cli: Cli, store: Store, tmp_path: Path) -> None:
    manifest = tmp_path / "rc.yaml"
    manifest.write_text((FIXTURES / "app.yaml").read_text())
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d and d.get("kind") == "ReplicationController"]
    del docs[0]["spec"]["selector"]
    manifest.write_text(yaml.safe_dump(docs[0]))
    assert cli("apply", "-f", str(manifest)).code == 0
    out = cli("describe", "rc", docs[0]["metadata"]["name"]).out
    assert "Selector:         app=web" in out and "<none>" not in out.split("Selector:")[1].splitlines()[0]


def test_controller_without_labels_has_its_templates_in_get_and_describe(cli: Cli, store: Store) -> None:
    """As the apiserver defaults them: ``get -l`` finds it, describe shows them (v1 and 2014)."""
    from tests.helpers import fixture, rc_doc

    doc = rc_doc("web", 2)
    doc["metadata"].pop("labels", None)
    store.client.document("namespaces/default/replicationControllers/web").set(doc)
    legacy = fixture("rc-2014.json")
    del legacy["labels"]
    store.client.document("namespaces/default/replicationControllers/nginx-controller").set(legacy)
    found = cli("get", "rc", "-l", "app=web")
    assert [line.split()[0] for line in found.out.splitlines()[1:]] == ["web"], found.out
    assert "nginx-controller" in cli("get", "rc", "-l", "name=nginx").out
    assert "Labels:           app=web" in cli("describe", "rc", "web").out
    assert "Labels:           name=nginx" in cli("describe", "rc", "nginx-controller").out


def test_pod_stored_with_the_old_address_spelling_shows_its_ip(cli: Cli, store: Store) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "old"},
           "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], "nodeName": "fc-old"},
           "status": {"phase": "Running", "podIp": "10.0.0.4", "hostIp": "10.0.0.4"}}
    store.client.document("namespaces/default/pods/old").set(pod)
    assert "IP:               10.0.0.4" in cli("describe", "pod", "old").out
