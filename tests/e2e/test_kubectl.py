"""The real kubectl (v1.32, unmodified) against the local stack, through ``kube_api`` and
the kubeconfig ``python main.py up`` writes: what issue 13 says must be shown.

One stack for the module. Two namespaces of real manifests from kubernetes/examples:
``guestbook`` (the modern guestbook: Deployments and Services) and ``rcs`` (the Go
guestbook: replication controllers, a Deployment, a LoadBalancer Service).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import CLIENT_SETTINGS, KUBECTL, ROOT, Json, Stack, running_stack
from tests.helpers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("kubectl_installed")]
GUESTBOOK = ROOT / "tests" / "fixtures" / "guestbook"
GUESTBOOK_GO = ROOT / "tests" / "fixtures" / "kubectl" / "guestbook-go"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("kubectl"), CLIENT_SETTINGS) as running:
        yield running


@pytest.fixture(scope="module")
def guestbook(stack: Stack) -> str:
    """``kubectl apply -f`` the modern guestbook folder, as published: its output."""
    return stack.kubectl_ok("apply", "-n", "guestbook", "-f", str(GUESTBOOK))


@pytest.fixture(scope="module")
def rcs(stack: Stack) -> str:
    """The Go guestbook's replication controllers and services, applied: its output."""
    return stack.kubectl_ok("apply", "-n", "rcs", "-f", str(GUESTBOOK_GO))


def _running(stack: Stack, namespace: str, selector: str, count: int) -> list[Json]:
    """The selected pods once ``count`` of them are Running, Ready, with an IP."""
    def ready() -> list[Json] | None:
        pods = stack.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
        good = [p for p in pods if p["status"].get("phase") == "Running" and p["status"].get("podIP")
                and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
        return good if len(good) == count and len(pods) == count else None

    return wait_for(ready, timeout=45, interval=0.5)


def test_kubectl_reaches_the_stack_through_the_kubeconfig_up_wrote(stack: Stack) -> None:
    assert "kubectl: export KUBECONFIG=" in (stack.tmp / "up.log").read_text()  # type: ignore[operator]
    version = stack.kubectl_ok("version")
    assert "Server Version: v1.32" in version
    resources = stack.kubectl_ok("api-resources")
    for line in ("replicationcontrollers   rc", "deployments   ", "pods   "):
        assert re.search(line.replace("   ", r"\s+"), resources), resources


def test_apply_a_folder_of_real_manifests_then_again_changes_nothing(stack: Stack, guestbook: str) -> None:
    assert sorted(guestbook.split("\n")[:-1]) == sorted(
        f"{kind}/{name} created" for name in ("frontend", "redis-master", "redis-replica")
        for kind in ("deployment.apps", "service"))
    again = stack.kubectl("apply", "-n", "guestbook", "-f", str(GUESTBOOK))
    assert again.returncode == 0, again.stderr
    assert sorted(again.stdout.split("\n")[:-1]) == sorted(
        f"{kind}/{name} unchanged" for name in ("frontend", "redis-master", "redis-replica")
        for kind in ("deployment.apps", "service"))


def test_rollout_status_waits_for_a_deployment(stack: Stack, guestbook: str) -> None:
    started = time.monotonic()
    out = stack.kubectl_ok("rollout", "status", "deployment/frontend", "-n", "guestbook", "--timeout=60s", timeout=90)
    assert 'deployment "frontend" successfully rolled out' in out
    assert time.monotonic() - started < 60, "rollout status must return once rolled out, not at the watch's end"


def test_get_wide_json_and_label_selectors(stack: Stack, guestbook: str) -> None:
    frontends = _running(stack, "guestbook", "app=guestbook,tier=frontend", 3)
    _running(stack, "guestbook", "app=redis", 3)
    wide = stack.kubectl_ok("get", "pods", "-n", "guestbook", "-o", "wide")
    header = wide.splitlines()[0].split()
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE", "READINESS",
                      "GATES"]
    for pod in frontends:
        row = next(line.split() for line in wide.splitlines() if line.startswith(pod["metadata"]["name"] + " "))
        assert row[1:3] == ["1/1", "Running"]
        assert row[5] == pod["status"]["podIP"] and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", row[5])
        assert row[6] == pod["spec"]["nodeName"] != "<none>"
    names = stack.kubectl_ok("get", "pods", "-n", "guestbook", "-l", "app=redis", "-o", "name").split()
    assert len(names) == 3 and all(n.startswith("pod/redis-") for n in names)
    assert len(stack.kubectl_ok("get", "pods", "-n", "guestbook", "-l", "role in (master)", "-o", "name").split()) == 1
    assert stack.kubectl_ok("get", "pods", "-n", "guestbook", "-l", "app=nothing").strip() == ""
    one = stack.kubectl_json("get", "deployment", "frontend", "-n", "guestbook")
    assert (one["apiVersion"], one["kind"], one["metadata"]["name"]) == ("apps/v1", "Deployment", "frontend")
    assert one["status"]["readyReplicas"] == 3 and one["metadata"]["generation"] >= 1
    listed = stack.kubectl_json("get", "deployments", "-n", "guestbook")
    assert listed["kind"] == "List" and len(listed["items"]) == 3
    services = stack.kubectl_ok("get", "services", "-n", "guestbook")
    assert services.splitlines()[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert re.search(r"^frontend\s+NodePort\s", services, re.M), services


def test_describe_shows_the_objects(stack: Stack, guestbook: str, rcs: str) -> None:
    frontend = _running(stack, "guestbook", "app=guestbook,tier=frontend", 3)[0]
    pod = stack.kubectl_ok("describe", "pod", frontend["metadata"]["name"], "-n", "guestbook")
    assert re.search(r"^Status:\s+Running$", pod, re.M), pod
    assert re.search(rf"^IP:\s+{re.escape(frontend['status']['podIP'])}$", pod, re.M), pod
    assert re.search(r"^Controlled By:\s+ReplicaSet/frontend-", pod, re.M), pod
    deployment = stack.kubectl_ok("describe", "deployment", "frontend", "-n", "guestbook")
    assert re.search(r"^Selector:\s+app=guestbook,tier=frontend$", deployment, re.M), deployment
    assert re.search(r"^Replicas:\s+3 desired \| 3 updated \| 3 total \| 3 available \| 0 unavailable$", deployment,
                     re.M), deployment
    _running(stack, "rcs", "app=guestbook", 3)
    rc = stack.kubectl_ok("describe", "rc", "guestbook", "-n", "rcs")
    assert re.search(r"^Selector:\s+app=guestbook$", rc, re.M), rc
    assert re.search(r"^Pods Status:\s+3 Running / 0 Waiting / 0 Succeeded / 0 Failed$", rc, re.M), rc
    assert re.search(r"^\s+Image:\s+registry.k8s.io/guestbook:v3$", rc, re.M), rc


def test_get_watch_sees_a_scale(stack: Stack, rcs: str, tmp_path: Path) -> None:
    _running(stack, "rcs", "app=guestbook", 3)
    out = tmp_path / "watch.out"
    with out.open("w") as sink:
        assert KUBECTL is not None
        watch = subprocess.Popen([KUBECTL, "get", "rc", "guestbook", "-n", "rcs", "-w"], env=stack.kubectl_env(),
                                 stdout=sink, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: re.search(r"^guestbook\s+3\s+3\s+3\s", out.read_text(), re.M), timeout=20)
            scaled = stack.kubectl_ok("scale", "rc", "guestbook", "-n", "rcs", "--replicas=5")
            assert scaled.strip() == "replicationcontroller/guestbook scaled"
            # The new desired count, then the pods counted as they come, all in the watch.
            wait_for(lambda: re.search(r"^guestbook\s+5\s+5\s+5\s", out.read_text(), re.M), timeout=45, interval=0.3)
            assert watch.poll() is None, out.read_text()
        finally:
            watch.terminate()
            watch.wait(timeout=10)
    lines = out.read_text().splitlines()
    assert lines[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    desired = [line.split()[1] for line in lines[1:]]
    assert desired[0] == "3" and desired[-1] == "5" and desired == sorted(desired), lines
    _running(stack, "rcs", "app=guestbook", 5)


def test_edit_through_kube_editor(stack: Stack, rcs: str, tmp_path: Path) -> None:
    """kubectl edit opens the object (as YAML) in $KUBE_EDITOR and PUTs what it saved."""
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nset -e\ngrep -q "^kind: ReplicationController$" "$1"\n'
                      'sed -i "0,/^  replicas: .*/s//  replicas: 2/" "$1"\n'
                      'sed -i "0,/^    app: guestbook$/s//    app: guestbook\\n    edited: \\"yes\\"/" "$1"\n')
    editor.chmod(0o755)
    before = stack.kubectl_json("get", "rc", "guestbook", "-n", "rcs")
    result = stack.kubectl("edit", "rc/guestbook", "-n", "rcs", env=stack.kubectl_env(KUBE_EDITOR=str(editor)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "replicationcontroller/guestbook edited"
    after = stack.kubectl_json("get", "rc", "guestbook", "-n", "rcs")
    assert after["spec"]["replicas"] == 2
    assert after["metadata"]["labels"] == {"app": "guestbook", "edited": "yes"}
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    _running(stack, "rcs", "app=guestbook", 2)
    # An edit that changes nothing is no write.
    unchanged = stack.kubectl("edit", "rc/guestbook", "-n", "rcs", env=stack.kubectl_env(KUBE_EDITOR="true"))
    assert unchanged.returncode == 0 and "Edit cancelled, no changes made." in unchanged.stderr + unchanged.stdout


def test_logs_once_pods_report_their_containers(stack: Stack, rcs: str) -> None:
    pod = _running(stack, "rcs", "app=guestbook", 2)[0]
    name, vm = pod["metadata"]["name"], pod["spec"]["nodeName"]
    stack.agent(vm, container="guestbook", action="output", text="listening on :3000\nGET / 200")
    wait_for(lambda: "GET / 200" in stack.kubectl_ok("logs", name, "-n", "rcs"), timeout=20, interval=0.3)
    logs = stack.kubectl_ok("logs", name, "-n", "rcs")
    assert logs.splitlines()[-3:] == ["started registry.k8s.io/guestbook:v3", "listening on :3000", "GET / 200"]
    assert stack.kubectl_ok("logs", name, "-n", "rcs", "--tail=1") == "GET / 200\n"
    assert stack.kubectl_ok("logs", name, "-n", "rcs", "-c", "guestbook", "--tail=2").splitlines() == [
        "listening on :3000", "GET / 200"]
    missing = stack.kubectl("logs", name, "-n", "rcs", "-c", "nope")
    assert missing.returncode == 1 and "nope" in missing.stderr, missing.stderr


def test_apply_of_an_invalid_object_says_is_invalid_with_our_field_paths(stack: Stack, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("""apiVersion: v1
kind: ReplicationController
metadata:
  name: bad
spec:
  replicas: -1
  selector:
    app: bad
  template:
    metadata:
      labels:
        app: bad
    spec:
      containers:
      - name: web
""")
    result = stack.kubectl("apply", "-n", "rcs", "-f", str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith('The ReplicationController "bad" is invalid: '), result.stderr
    causes = re.findall(r"^\* (\S+): ", result.stderr, re.M)
    assert sorted(causes) == ["spec.replicas", "spec.template.spec.containers[0].image"], result.stderr
    assert stack.kubectl("get", "rc", "bad", "-n", "rcs").returncode == 1, "nothing was stored"
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(bad.read_text().replace("replicas: -1", "replicas: 1\n  replicaz: 2")
                       .replace("- name: web", "- name: web\n        image: nginx"))
    strict = stack.kubectl("apply", "-n", "rcs", "-f", str(unknown))
    assert strict.returncode == 1 and 'unknown field "spec.replicaz"' in strict.stderr, strict.stderr


def test_delete_with_cascade_orphan_leaves_the_pods_unowned(stack: Stack, rcs: str) -> None:
    pods = _running(stack, "rcs", "app=redis,role=replica", 2)
    uids = {p["metadata"]["uid"] for p in pods}
    assert all(p["metadata"]["ownerReferences"][0]["name"] == "redis-replica" for p in pods)
    out = stack.kubectl_ok("delete", "rc", "redis-replica", "-n", "rcs", "--cascade=orphan")
    assert out.strip() == 'replicationcontroller "redis-replica" deleted'
    wait_for(lambda: stack.kubectl("get", "rc", "redis-replica", "-n", "rcs").returncode == 1, timeout=30)
    gone = stack.kubectl("get", "rc", "redis-replica", "-n", "rcs")
    assert 'replicationcontrollers "redis-replica" not found' in gone.stderr

    def unowned() -> list[Json] | None:
        left = stack.kubectl_json("get", "pods", "-n", "rcs", "-l", "app=redis,role=replica")["items"]
        return left if all(not p["metadata"].get("ownerReferences") for p in left) else None

    left = wait_for(unowned, timeout=30, interval=0.5)
    assert {p["metadata"]["uid"] for p in left} == uids, "the orphans stay, the same pods"
    time.sleep(2)  # a pass that would still collect them has had its chance
    assert {p["metadata"]["uid"] for p in stack.kubectl_json("get", "pods", "-n", "rcs", "-l", "role=replica")[
        "items"]} == uids


def test_delete_a_folder_and_a_controller_with_its_pods(stack: Stack, guestbook: str, rcs: str) -> None:
    out = stack.kubectl_ok("delete", "-n", "guestbook", "-f", str(GUESTBOOK))
    assert sorted(out.splitlines()) == sorted(
        f'{kind} "{name}" deleted' for name in ("frontend", "redis-master", "redis-replica")
        for kind in ("deployment.apps", "service"))
    wait_for(lambda: stack.kubectl_ok("get", "pods,rs,deploy,svc", "-n", "guestbook", "-o", "name").strip() == "",
             timeout=60, interval=0.5)
    assert stack.kubectl_ok("delete", "rc", "guestbook", "-n", "rcs").strip() == \
        'replicationcontroller "guestbook" deleted'
    wait_for(lambda: stack.kubectl_ok("get", "pods", "-n", "rcs", "-l", "app=guestbook", "-o", "name").strip() == "",
             timeout=60, interval=0.5)
    missing = stack.kubectl("delete", "rc", "guestbook", "-n", "rcs")
    assert missing.returncode == 1
    assert 'Error from server (NotFound): replicationcontrollers "guestbook" not found' in missing.stderr


def test_2014_manifests_through_the_cli_are_v1_objects_to_kubectl(stack: Stack) -> None:
    """The seed's 2014 controller and the July 2014 guestbook's redis-master pod, applied
    with the CLI as published, are served as v1 objects; the pod runs on its VM (the
    pod runtime's writes no longer break its conversion) and its hostPort is kept."""
    fixtures = ROOT / "tests" / "fixtures"
    for manifest in ("rc-2014.json", "redis-master-2014.json"):
        applied = stack.cli("apply", "-n", "old", "-f", str(fixtures / manifest))
        assert applied.returncode == 0, applied.stderr

    def running() -> Json | None:
        got = stack.kubectl_json("get", "pod", "redis-master-2", "-n", "old")
        return got if got.get("status", {}).get("phase") == "Running" else None

    pod = wait_for(running, timeout=45, interval=0.5)
    assert (pod["apiVersion"], pod["kind"], pod["metadata"]["name"]) == ("v1", "Pod", "redis-master-2")
    port = pod["spec"]["containers"][0]["ports"][0]
    assert (port["containerPort"], port["hostPort"]) == (6379, 6379)
    assert pod["spec"]["nodeName"] and pod["status"]["podIP"]
    assert "desiredState" not in pod and "id" not in pod
    rc = stack.kubectl_json("get", "rc", "nginx-controller", "-n", "old")
    assert (rc["apiVersion"], rc["spec"]["replicas"], rc["spec"]["selector"]) == ("v1", 2, {"name": "nginx"})
    assert rc["metadata"]["labels"] == {"name": "nginx"}
    _running(stack, "old", "name=nginx", 2)
    described = stack.kubectl_ok("describe", "rc", "nginx-controller", "-n", "old")
    assert re.search(r"Selector:\s+name=nginx", described) and "2 Running" in described, described
