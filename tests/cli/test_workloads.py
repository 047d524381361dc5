"""Deployments and ReplicaSets through the CLI: apply, get (kubectl's columns), describe,
scale, delete and set image, against the Firestore emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions.store import Doc, Store
from tests.cli.support import FIXTURES, Cli, data, names

DEP = "namespaces/default/deployments/frontend"
RS = "namespaces/default/replicaSets"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


def owned_rs(store: Store, name: str, revision: int, image: str, replicas: int, **status: Any) -> None:
    """A ReplicaSet as the Deployment controller makes it."""
    template = {"metadata": {"labels": {"app": "guestbook", "tier": "frontend", "pod-template-hash": name[-5:]}},
                "spec": {"containers": [{"name": "php-redis", "image": image, "ports": [{"containerPort": 80}]},
                                    {"name": "sidecar", "image": "busybox:1.36"}]}}
    store.client.document(f"{RS}/{name}").set({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend",
                                          "controller": True}]},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "guestbook", "pod-template-hash": name[-5:]}},
                 "template": template},
        "status": {"replicas": replicas, **status},
    })


def test_apply_get_and_wide(cli: Cli, store: Store) -> None:
    applied = cli("apply", "-f", str(FIXTURES / "workloads.yaml"))
    assert applied.code == 0, applied.err
    assert applied.out == "deployment.apps/frontend created\nreplicaset.apps/cache created\n"
    assert names(store, "deployments") == ["frontend"] and names(store, "replicaSets") == ["cache"]
    store.client.document(DEP).update({"status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3,
                                                  "availableReplicas": 2}})
    store.client.document(f"{RS}/cache").update({"status": {"replicas": 2, "readyReplicas": 1}})

    deploy = cli("get", "deploy")
    assert rows(deploy.out)[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows(deploy.out)[1][:4] == ["frontend", "2/3", "3", "2"]
    wide = cli("get", "deployments.apps", "frontend", "-o", "wide")
    assert rows(wide.out)[0][5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows(wide.out)[1][5:] == ["php-redis,sidecar", "gcr.io/google-samples/gb-frontend:v4,busybox:1.36",
                                     "app=guestbook,tier=frontend"]
    rs = cli("get", "rs", "-o", "wide")
    assert rows(rs.out)[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows(rs.out)[1][:4] == ["cache", "2", "2", "1"]
    assert rs.out.splitlines()[1].endswith("app=cache,tier in (backend,cache)")
    assert cli("get", "replicaset", "cache", "-o", "json").out.count('"kind": "ReplicaSet"') == 1
    missing = cli("get", "deploy", "nope")
    assert missing.code == 1 and 'deployments.apps "nope" not found' in missing.err


def test_apply_refuses_invalid_workloads(cli: Cli, store: Store, tmp_path: Any) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
        "spec:\n  selector: {matchLabels: {app: other}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n"
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: again}\n"
        "spec:\n  selector: {matchLabels: {app: web}}\n  strategy: {type: Recreate, rollingUpdate: {maxSurge: 1}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n"
        "---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: lone}\nspec:\n"
        "  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n"
    )
    result = cli("apply", "-f", str(bad))
    assert result.code == 1
    lines = result.err.splitlines()
    # The functions' parser's messages (docs/workloads.md), one line per problem.
    assert any("Deployment/web: spec." in line and "selector" in line for line in lines), result.err
    assert any("Deployment/again: spec.strategy.rollingUpdate" in line for line in lines), result.err
    assert any("ReplicaSet/lone: spec.selector" in line for line in lines), result.err
    assert names(store, "deployments") == [] and names(store, "replicaSets") == []


def test_describe_deployment_and_its_replica_sets(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "workloads.yaml")).code == 0
    store.client.document(DEP).update({
        "metadata.annotations": {"deployment.kubernetes.io/revision": "2"},
        "status": {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3, "unavailableReplicas": 0,
                   "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                                  {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}})
    owned_rs(store, "frontend-old11", 1, "gcr.io/google-samples/gb-frontend:v3", 0)
    owned_rs(store, "frontend-new22", 2, "gcr.io/google-samples/gb-frontend:v4", 3)
    store.client.document("namespaces/default/pods/frontend-new22-abcde").set({
        "metadata": {"name": "frontend-new22-abcde", "labels": {"app": "guestbook"},
                     "ownerReferences": [{"kind": "ReplicaSet", "name": "frontend-new22", "controller": True}]},
        "spec": {"containers": [{"name": "php-redis", "image": "x"}]}, "status": {"phase": "Running"}})

    result = cli("describe", "deploy", "frontend")
    assert result.code == 0, result.err
    out = result.out
    assert "Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable" in out
    assert "StrategyType:           RollingUpdate" in out
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in out
    assert "Selector:               app=guestbook,tier=frontend" in out
    assert "Annotations:            deployment.kubernetes.io/revision=2" in out
    assert "    Image:        gcr.io/google-samples/gb-frontend:v4\n    Port:         80/TCP" in out
    assert "CreationTimestamp:      " in out and " +0000\n" in out
    assert "OldReplicaSets:  <none>" in out  # the old one holds no pods
    assert "NewReplicaSet:   frontend-new22 (3/3 replicas created)" in out
    assert rows(out[out.index("Conditions:"):])[2][:3] == ["Available", "True", "MinimumReplicasAvailable"]

    rs = cli("describe", "rs", "frontend-new22").out
    assert "Controlled By:  Deployment/frontend" in rs
    assert "Replicas:       3 current / 3 desired" in rs
    assert "Pods Status:    1 Running / 0 Waiting / 0 Succeeded / 0 Failed" in rs


def test_scale_delete_and_set_image(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "workloads.yaml")).code == 0
    scaled = cli("scale", "deployment/frontend", "--replicas", "5")
    assert (scaled.code, scaled.out) == (0, "deployment.apps/frontend scaled\n")
    assert (data(store, DEP) or {})["spec"]["replicas"] == 5
    assert cli("scale", "rs", "cache", "--replicas", "0").out == "replicaset.apps/cache scaled\n"
    assert (data(store, f"{RS}/cache") or {})["spec"]["replicas"] == 0

    updated = cli("set", "image", "deployment/frontend", "php-redis=gb-frontend:v5")
    assert (updated.code, updated.out) == (0, "deployment.apps/frontend image updated\n")
    containers = (data(store, DEP) or {})["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == ["gb-frontend:v5", "busybox:1.36"]
    every = cli("set", "image", "rs/cache", "*=redis:7.2")
    assert every.out == "replicaset.apps/cache image updated\n"
    assert (data(store, f"{RS}/cache") or {})["spec"]["template"]["spec"]["containers"][0]["image"] == "redis:7.2"
    before = store.client.document(DEP).get().update_time
    unknown = cli("set", "image", "deploy", "frontend", "nope=x:1")
    assert unknown.code == 1 and 'error: unable to find container named "nope"' in unknown.err
    same = cli("set", "image", "deploy/frontend", "php-redis=gb-frontend:v5")
    assert (same.code, same.out) == (0, "")  # nothing changed: nothing printed, as kubectl
    assert store.client.document(DEP).get().update_time == before
    assert cli("set", "image", "deploy/frontend").code == 2

    deleted = cli("delete", "deploy", "frontend")
    assert deleted.out == "deployment.apps/frontend deleted\n"
    assert cli("delete", "rs/cache").out == "replicaset.apps/cache deleted\n"
    assert names(store, "deployments") == [] and names(store, "replicaSets") == []


def test_set_image_on_a_controller(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    result = cli("set", "image", "rc/web", "nginx=nginx:1.28")
    assert result.out == "replicationcontroller/web image updated\n"
    rc = data(store, "namespaces/default/replicationControllers/web") or {}
    assert rc["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"


def test_ages_use_creation_time(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "workloads.yaml")).code == 0
    store.client.document(DEP).update({"metadata.creationTimestamp": datetime.now(UTC) - timedelta(hours=3)})
    assert rows(cli("get", "deploy").out)[1][4] == "3h"


def test_new_replica_set_is_the_controllers_equal_ignore_hash() -> None:
    """An empty map counts as unset, as in the controller: the same ReplicaSet is "new"."""
    from functions.api.podtemplatehash import equal_ignore_hash
    from functions.cli import workloads

    template = {"metadata": {"labels": {"app": "guestbook"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}
    stored = {"metadata": {"labels": {"app": "guestbook", "pod-template-hash": "abcde"}, "annotations": {}},
              "spec": {"containers": [{"name": "a", "image": "x", "env": []}]}}
    deployment = Doc(DEP, {"spec": {"template": template}}, T0, T0)
    rs = Doc(f"{RS}/frontend-abcde", {"spec": {"template": stored}}, T0, T0)
    assert equal_ignore_hash(stored, template)
    assert workloads.same_template(stored, template)
    assert workloads.new_and_old(deployment, [rs]) == (rs, [])
    assert "pod-template-hash" not in workloads.without_hash(stored)["metadata"]["labels"]
