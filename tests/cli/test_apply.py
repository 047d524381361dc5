"""apply: files, folders and stdin; created, configured, unchanged; what the functions own is kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import yaml

from functions.store import Store
from tests.cli.support import FIXTURES, SHARED_FIXTURES, Cli, data, names, nothing_written

RC = "namespaces/default/replicationControllers"


def test_v1_manifest_created_then_unchanged_then_configured(cli: Cli, store: Store, tmp_path: Path) -> None:
    manifest = SHARED_FIXTURES / "rc-v1.yaml"
    first = cli("apply", "-f", str(manifest))
    assert (first.code, first.out) == (0, "replicationcontroller/nginx created\n")
    assert data(store, f"{RC}/nginx") == yaml.safe_load(manifest.read_text())

    again = cli("apply", "-f", str(manifest))
    assert (again.code, again.out) == (0, "replicationcontroller/nginx unchanged\n")

    changed = tmp_path / "rc.yaml"
    changed.write_text(manifest.read_text().replace("replicas: 3", "replicas: 5"))
    third = cli("apply", "-f", str(changed))
    assert (third.code, third.out) == (0, "replicationcontroller/nginx configured\n")
    assert (data(store, f"{RC}/nginx") or {})["spec"]["replicas"] == 5


def test_2014_manifest_is_stored_in_its_own_shape(cli: Cli, store: Store) -> None:
    result = cli("apply", "-f", str(SHARED_FIXTURES / "rc-2014.json"))
    assert (result.code, result.out) == (0, "replicationcontroller/nginx-controller created\n")
    stored = data(store, f"{RC}/nginx-controller") or {}
    assert stored["desiredState"]["replicas"] == 2 and "spec" not in stored


def test_multi_document_file_folder_and_stdin(cli: Cli, store: Store) -> None:
    result = cli("apply", "-f", str(FIXTURES / "app.yaml"), "-f", str(FIXTURES / "app"))
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "replicationcontroller/web created", "service/web created", "pod/debug created",
        "replicationcontroller/api created", "service/api created",
    ]
    assert names(store, "replicationControllers") == ["api", "web"]
    assert names(store, "services") == ["api", "web"]
    assert names(store, "pods") == ["debug"]

    piped = cli("apply", "-f", "-", stdin=(SHARED_FIXTURES / "rc-v1.yaml").read_text())
    assert (piped.code, piped.out) == (0, "replicationcontroller/nginx created\n")
    assert "nginx" in names(store, "replicationControllers")


def test_reapply_keeps_status_and_what_the_functions_own(cli: Cli, store: Store, tmp_path: Path) -> None:
    assert cli("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    created = datetime(2024, 5, 1, tzinfo=UTC)
    owned = {"uid": "u-1", "generation": 2, "resourceVersion": "7", "finalizers": ["firecontrol.io/x"],
             "creationTimestamp": created}
    status = {"replicas": 3, "readyReplicas": 2}
    store.client.document(f"{RC}/web").update({**{f"metadata.{k}": v for k, v in owned.items()}, "status": status})
    store.client.document("namespaces/default/pods/debug").update({
        "metadata.ownerReferences": [{"kind": "ReplicationController", "name": "x", "uid": "u-9", "controller": True}],
        "spec.nodeName": "fc-1234-debug", "status": {"phase": "Running"},
    })

    unchanged = cli("apply", "-f", str(FIXTURES / "app.yaml"))
    assert unchanged.out.splitlines() == [
        "replicationcontroller/web unchanged", "service/web unchanged", "pod/debug unchanged",
    ]

    edited = tmp_path / "app.yaml"
    text = (FIXTURES / "app.yaml").read_text().replace("replicas: 3", "replicas: 4")
    edited.write_text(text.replace("  labels:\n    app: web\nspec:\n  replicas", "  labels:\n    tier: front\nspec:\n  replicas")
                      .replace("busybox:1.36", "busybox:1.37"))
    result = cli("apply", "-f", str(edited))
    assert result.out.splitlines() == [
        "replicationcontroller/web configured", "service/web unchanged", "pod/debug configured",
    ]
    rc = data(store, f"{RC}/web") or {}
    assert rc["spec"]["replicas"] == 4
    assert rc["metadata"]["labels"] == {"tier": "front"}  # the user's part is replaced
    assert rc["status"] == status
    assert {k: rc["metadata"][k] for k in owned} == owned
    pod = data(store, "namespaces/default/pods/debug") or {}
    assert pod["spec"]["containers"][0]["image"] == "busybox:1.37"
    assert pod["spec"]["nodeName"] == "fc-1234-debug"
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "u-9"
    assert pod["status"] == {"phase": "Running"}


def test_reapply_of_2014_shape_keeps_functions_metadata(cli: Cli, store: Store, tmp_path: Path) -> None:
    source = SHARED_FIXTURES / "rc-2014.json"
    assert cli("apply", "-f", str(source)).code == 0
    store.client.document(f"{RC}/nginx-controller").update(
        {"metadata.uid": "u-2014", "metadata.generation": 1, "status": {"replicas": 2}}
    )
    changed = tmp_path / "rc.json"
    changed.write_text(source.read_text().replace('"replicas": 2', '"replicas": 4'))
    assert cli("apply", "-f", str(changed)).out == "replicationcontroller/nginx-controller configured\n"
    stored = data(store, f"{RC}/nginx-controller") or {}
    assert stored["desiredState"]["replicas"] == 4
    assert stored["metadata"] == {"uid": "u-2014", "generation": 1}
    assert stored["status"] == {"replicas": 2}


def test_manifest_cannot_set_status_or_uid(cli: Cli, store: Store, tmp_path: Path) -> None:
    manifest = yaml.safe_load((SHARED_FIXTURES / "rc-v1.yaml").read_text())
    manifest["metadata"]["uid"] = "forged"
    manifest["status"] = {"replicas": 99}
    path = tmp_path / "rc.yaml"
    path.write_text(yaml.safe_dump(manifest))
    assert cli("apply", "-f", str(path)).code == 0
    stored = data(store, f"{RC}/nginx") or {}
    assert "uid" not in stored["metadata"] and "status" not in stored


def test_namespace_flag_and_mismatch(cli: Cli, store: Store, tmp_path: Path) -> None:
    result = cli("apply", "-f", str(SHARED_FIXTURES / "rc-v1.yaml"), "-n", "team")
    assert result.code == 0
    assert names(store, "replicationControllers", "team") == ["nginx"]

    other = tmp_path / "other.yaml"
    other.write_text((SHARED_FIXTURES / "rc-v1.yaml").read_text().replace("  name: nginx\n", "  name: other\n  namespace: prod\n", 1))
    mismatch = cli("apply", "-f", str(other), "-n", "team")
    assert mismatch.code == 1
    assert f"{other}:1 ReplicationController/other: metadata.namespace 'prod' does not match" in mismatch.err
    assert names(store, "replicationControllers", "prod") == []
    assert names(store, "replicationControllers", "team") == ["nginx"]


def test_dry_run_and_unknown_field_warning(cli: Cli, store: Store, tmp_path: Path) -> None:
    manifest = yaml.safe_load((SHARED_FIXTURES / "rc-v1.yaml").read_text())
    manifest["spec"]["template"]["spec"]["volumes"] = [{"name": "data"}]
    path = tmp_path / "rc.yaml"
    path.write_text(yaml.safe_dump(manifest))
    dry = cli("apply", "--dry-run", "-f", str(path))
    assert (dry.code, dry.out) == (0, "replicationcontroller/nginx created (dry run)\n")
    assert "unknown field spec.template.spec.volumes" in dry.err
    assert nothing_written(store)


def test_get_output_applies_back_unchanged(cli: Cli, store: Store) -> None:
    """``get -o yaml | apply -f -`` changes nothing, whatever the functions wrote meanwhile."""
    assert cli("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    store.client.document(f"{RC}/web").update({
        "metadata.uid": "u-1", "metadata.creationTimestamp": datetime(2024, 5, 1, tzinfo=UTC),
        "status": {"replicas": 3, "conditions": [{"type": "Ready", "lastTransitionTime": datetime.now(UTC)}]},
    })
    for kind in ("rc", "pods", "svc"):
        listed = cli("get", kind, "-o", "yaml").out
        result = cli("apply", "-f", "-", stdin=listed)
        assert result.code == 0, result.err
        assert result.out.split()[1::2] == ["unchanged"], result.out


def test_top_level_field_removed_from_the_manifest_is_removed(cli: Cli, store: Store) -> None:
    manifest = SHARED_FIXTURES / "rc-v1.yaml"
    assert cli("apply", "-f", str(manifest)).code == 0
    store.client.document(f"{RC}/nginx").update({"notes": "written by hand in the console"})
    assert cli("apply", "-f", str(manifest)).out == "replicationcontroller/nginx configured\n"
    assert "notes" not in (data(store, f"{RC}/nginx") or {})


def test_selector_of_a_deployment_or_replica_set_is_immutable(cli: Cli, store: Store, tmp_path: Path) -> None:
    """As Kubernetes (apps/v1): a changed spec.selector is refused, nothing written; the
    same selector written differently (matchExpressions: [] or absent) is no change."""
    assert cli("apply", "-f", str(FIXTURES / "workloads.yaml")).code == 0
    docs = list(yaml.safe_load_all((FIXTURES / "workloads.yaml").read_text()))
    before = {p: data(store, p) for p in ("namespaces/default/deployments/frontend", "namespaces/default/replicaSets/cache")}
    deployment, replica_set = docs
    deployment["spec"]["selector"] = {"matchLabels": {"app": "guestbook"}}
    deployment["spec"]["replicas"] = 5
    replica_set["spec"]["selector"]["matchExpressions"][0]["values"] = ["cache"]
    replica_set["spec"]["template"]["metadata"]["labels"]["tier"] = "cache"
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump_all(docs))
    for args in (("apply", "-f", str(changed)), ("apply", "-f", str(changed), "--dry-run")):
        refused = cli(*args)
        assert refused.code == 1, refused.out
        assert ('Deployment/frontend: The Deployment "frontend" is invalid: spec.selector: Invalid value: '
                '{"matchLabels":{"app":"guestbook"}}: field is immutable') in refused.err
        assert 'The ReplicaSet "cache" is invalid: spec.selector: Invalid value: ' in refused.err
        assert "field is immutable" in refused.err and "error: nothing was written (2 problem(s))" in refused.err
    assert {p: data(store, p) for p in before} == before
    same = list(yaml.safe_load_all((FIXTURES / "workloads.yaml").read_text()))
    same[0]["spec"]["selector"]["matchExpressions"] = []
    same[0]["spec"]["replicas"] = 4
    (tmp_path / "same.yaml").write_text(yaml.safe_dump_all(same))
    ok = cli("apply", "-f", str(tmp_path / "same.yaml"))
    assert ok.code == 0, ok.err
    assert (data(store, "namespaces/default/deployments/frontend") or {})["spec"]["replicas"] == 4


# -- issue 13: 2014 files without a kind (kubecfg took it from the command line) ---------------


def _june_2014(tmp_path: Path, fixed: bool) -> Path:
    """The June 2014 guestbook redis-slave-controller.json; ``fixed``: with a DNS name."""
    text = (SHARED_FIXTURES / "redis-slave-controller-2014.json").read_text()
    if fixed:
        text = text.replace('"redisSlaveController"', '"redis-slave"')
    path = tmp_path / "redis-slave-controller.json"
    path.write_text(text)
    return path


def test_a_kindless_2014_controller_is_recognised_by_its_shape(cli: Cli, store: Store, tmp_path: Path) -> None:
    as_published = cli("apply", "-f", str(_june_2014(tmp_path, fixed=False)))
    assert as_published.code == 1 and "kind is missing" not in as_published.err
    assert "ReplicationController/redisSlaveController: metadata:" in as_published.err
    assert "hostPort" not in as_published.err  # 6380 on 6379: the agent redirects it
    result = cli("apply", "-f", str(_june_2014(tmp_path, fixed=True)))
    assert (result.code, result.out) == (0, "replicationcontroller/redis-slave created\n"), result.err
    stored = data(store, "namespaces/default/replicationControllers/redis-slave") or {}
    assert stored["desiredState"]["replicas"] == 2 and "kind" not in stored  # stored as written
    manifest = stored["desiredState"]["podTemplate"]["desiredState"]["manifest"]
    assert manifest["containers"][0]["ports"] == [{"containerPort": 6379, "hostPort": 6380}]


def test_the_july_2014_guestbook_frontend_applies_with_its_host_port(cli: Cli, store: Store, tmp_path: Path) -> None:
    """examples/guestbook/frontend-controller.json of July 2014: containerPort 80 on hostPort
    8000 (its id, 'frontendController', is no DNS name: renamed, a problem of its own)."""
    path = tmp_path / "frontend-controller.json"
    path.write_text((FIXTURES / "frontend-controller-2014.json").read_text().replace(
        '"id": "frontendController"', '"id": "frontend"', 1))
    result = cli("apply", "-f", str(path))
    assert (result.code, result.out) == (0, "replicationcontroller/frontend created\n"), result.err
    shown = json.loads(cli("get", "rc", "frontend", "-o", "json").out)
    [container] = shown["spec"]["template"]["spec"]["containers"]
    assert (container["name"], container["ports"]) == ("php-redis", [{"containerPort": 80, "hostPort": 8000}])
    again = cli("apply", "-f", str(path))
    assert (again.code, again.out) == (0, "replicationcontroller/frontend unchanged\n"), again.err


def test_kind_from_the_command_line(cli: Cli, store: Store, tmp_path: Path) -> None:
    path = _june_2014(tmp_path, fixed=True)
    result = cli("apply", "-f", str(path), "--kind", "rc")
    assert (result.code, result.out) == (0, "replicationcontroller/redis-slave created\n"), result.err
    wrong = cli("apply", "-f", str(path), "--kind", "Service")
    assert wrong.code == 1 and "redis-slave" in wrong.err
    bare = tmp_path / "bare.json"
    bare.write_text('{"id": "mystery", "labels": {"a": "b"}}')
    unknown = cli("apply", "-f", str(bare))
    assert unknown.code == 1
    assert ("kind is missing and the document is not a 2014 shape firecontrol recognises "
            "(desiredState.replicaSelector or podTemplate: a controller; desiredState.manifest: a pod; "
            "port and selector: a service); add kind: or pass --kind KIND") in unknown.err
    assert cli("apply", "-f", str(bare), "--kind", "frobnicator").code == 2


def test_a_kindless_2014_pod_and_service(cli: Cli, store: Store, tmp_path: Path) -> None:
    pod = json.loads((SHARED_FIXTURES / "redis-master-2014.json").read_text())
    del pod["kind"], pod["apiVersion"]
    service = {"id": "redismaster", "port": 10000, "selector": {"name": "redis-master"}}
    path = tmp_path / "guestbook.json"
    path.write_text(json.dumps([pod, service]))
    result = cli("apply", "-f", str(path))
    assert result.out.splitlines() == ["pod/redis-master-2 created", "service/redismaster created"], result.err
