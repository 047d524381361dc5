"""Deployments through the real path on the local stack, with the CLI as a user types it.

``python main.py up`` as in ``test_pod_agent.py``: every function its own server, the
Firestore emulator delivering the triggers, the simulated agents reporting each pod's
readiness (their clock 20 times fast), resync every 2 s. The bounds of a rollout are
checked on every version of the namespace's pods a Firestore listener delivers, not
on samples.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.stack import ROOT, Json, Stack, running_stack
from tests.helpers import wait_for

pytestmark = pytest.mark.slow
GUESTBOOK = ROOT / "tests" / "fixtures" / "guestbook"
HASH = "pod-template-hash"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = {"FIRECONTROL_SCHEDULER_TIME_SCALE": "30", "FIRECONTROL_AGENT_TIME_SCALE": "20",
                "FIRECONTROL_STATUS_WRITE_LIMIT": "200"}
    with running_stack(tmp_path_factory.mktemp("deployments"), settings) as running:
        yield running


def deployment(name: str, replicas: int, image: str, **spec: Any) -> Json:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, **spec,
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def rolling(surge: int | str, unavailable: int | str) -> Json:
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}


def _ready(pod: Json) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def leaving(pod: Json) -> bool:
    return (pod.get("metadata") or {}).get("deletionTimestamp") is not None


def counted(pod: Json) -> bool:
    """A pod the rollout counts: not finished and not on its way out (as Kubernetes counts)."""
    return not leaving(pod) and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def available(pod: Json) -> bool:
    return counted(pod) and (pod.get("status") or {}).get("phase") == "Running" and _ready(pod)


def image_of(pod: Json) -> str:
    return str(pod["spec"]["containers"][0]["image"])


class PodWatch:
    """Every state of a namespace's pods that a Firestore listener delivers."""

    def __init__(self, stack: Stack, namespace: str) -> None:
        self.states: list[list[Json]] = []
        self.lock = threading.Lock()
        self.watch = stack.db.collection(f"namespaces/{namespace}/pods").on_snapshot(self._on)

    def _on(self, snapshots: list[Any], *_: Any) -> None:
        with self.lock:
            self.states.append([s.to_dict() or {} for s in snapshots])

    def stop(self) -> list[list[Json]]:
        self.watch.unsubscribe()
        with self.lock:
            return list(self.states)


def pods(stack: Stack, ns: str) -> list[Json]:
    return [p for p in stack.pods(ns) if counted(p)]


def replica_sets(stack: Stack, ns: str) -> list[Json]:
    return [s.to_dict() | {"_name": s.id} for s in stack.db.collection(f"namespaces/{ns}/replicaSets").stream()]


def rollout_status(stack: Stack, ns: str, name: str, timeout: str = "120s") -> Any:
    return stack.cli("rollout", "status", f"deployment/{name}", "-n", ns, f"--timeout={timeout}", timeout=150)


def rolled_out(stack: Stack, ns: str, name: str) -> None:
    done = rollout_status(stack, ns, name)
    assert done.returncode == 0 and f'deployment "{name}" successfully rolled out' in done.stdout, done


def condition(doc: Json | None, kind: str) -> Json:
    return next((c for c in ((doc or {}).get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def test_the_modern_guestbook_converges(stack: Stack) -> None:
    """kubernetes/examples web/guestbook as published: three Deployments and their Services."""
    ns = "guestbook"
    applied = stack.cli("apply", "-f", str(GUESTBOOK), "-n", ns)
    assert applied.returncode == 0, applied
    wanted = {"frontend": 3, "redis-master": 1, "redis-replica": 2}
    for name in wanted:
        rolled_out(stack, ns, name)
    for name, replicas in wanted.items():
        doc = stack.get(ns, "deployments", name) or {}
        status = doc["status"]
        assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (replicas,) * 3
        assert doc["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
        assert condition(doc, "Available")["status"] == "True"
    sets = replica_sets(stack, ns)
    assert sorted(s["_name"].rsplit("-", 1)[0] for s in sets) == sorted(wanted)
    running = pods(stack, ns)
    assert len(running) == 6 and all(available(p) for p in running)
    for rs in sets:  # each pod is its ReplicaSet's, labelled with the template's hash
        mine = [p for p in running if p["metadata"]["ownerReferences"][0]["name"] == rs["_name"]]
        assert len(mine) == rs["spec"]["replicas"]
        assert all(p["metadata"]["labels"][HASH] == rs["metadata"]["labels"][HASH] for p in mine)
    for service in ("frontend", "redis-master", "redis-replica"):
        assert stack.get(ns, "services", service) is not None
    listed = stack.cli("get", "deployments", "-n", ns)
    assert listed.returncode == 0 and "frontend" in listed.stdout and "3/3" in listed.stdout, listed


def test_a_new_image_rolls_out_within_its_bounds_and_undo_brings_the_old_back(stack: Stack) -> None:
    ns, replicas, surge, unavailable = "rolling", 4, 1, 1
    stack.put(ns, "deployments", deployment("web", replicas, "nginx:1.27", strategy=rolling(surge, unavailable)))
    rolled_out(stack, ns, "web")
    watch = PodWatch(stack, ns)
    try:
        changed = stack.cli("set", "image", "deployment/web", "web=nginx:1.28", "-n", ns)
        assert changed.returncode == 0, changed
        rolled_out(stack, ns, "web")
    finally:
        states = watch.stop()
    assert len(states) > 5
    fewest = min(sum(map(available, state)) for state in states)
    most = max(sum(map(counted, state)) for state in states)
    assert fewest >= replicas - unavailable, fewest
    assert most <= replicas + surge, most
    now = pods(stack, ns)
    assert len(now) == replicas and {image_of(p) for p in now} == {"nginx:1.28"}
    revisions = {s["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: s for s in replica_sets(stack, ns)}
    assert sorted(revisions) == ["1", "2"] and revisions["1"]["spec"]["replicas"] == 0

    undone = stack.cli("rollout", "undo", "deployment/web", "-n", ns)
    assert undone.returncode == 0, undone
    rolled_out(stack, ns, "web")
    doc = stack.get(ns, "deployments", "web") or {}
    assert doc["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert HASH not in doc["spec"]["template"]["metadata"]["labels"]
    now = pods(stack, ns)
    assert len(now) == replicas and {image_of(p) for p in now} == {"nginx:1.27"}
    # Revision 1's ReplicaSet is used again, as revision 3 (Kubernetes moves it on).
    revisions = {s["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: s for s in replica_sets(stack, ns)}
    assert sorted(revisions) == ["2", "3"] and revisions["2"]["spec"]["replicas"] == 0
    history = stack.cli("rollout", "history", "deployment/web", "-n", ns)
    assert history.returncode == 0 and "REVISION" in history.stdout, history


def test_an_image_that_never_gets_ready_stalls_at_max_unavailable(stack: Stack) -> None:
    ns, replicas, surge, unavailable = "stalled", 4, 1, 1
    stack.put(ns, "deployments", deployment("web", replicas, "nginx:1.27", strategy=rolling(surge, unavailable),
                                           progressDeadlineSeconds=8))
    rolled_out(stack, ns, "web")
    watch = PodWatch(stack, ns)
    try:
        changed = stack.cli("set", "image", "deployment/web", "web=registry.invalid/web:v2", "-n", ns)
        assert changed.returncode == 0, changed
        exceeded = wait_for(lambda: condition(stack.get(ns, "deployments", "web"), "Progressing").get("reason")
                            == "ProgressDeadlineExceeded" and stack.get(ns, "deployments", "web"), timeout=90, interval=0.5)
        time.sleep(3)  # resync passes it again: nothing moves
    finally:
        states = watch.stop()
    assert condition(exceeded, "Progressing")["status"] == "False"
    assert min(sum(map(available, state)) for state in states) >= replicas - unavailable
    assert max(sum(map(counted, state)) for state in states) <= replicas + surge
    final = pods(stack, ns)
    old = [p for p in final if image_of(p) == "nginx:1.27"]
    new = [p for p in final if image_of(p) != "nginx:1.27"]
    # The rollout went as far as maxUnavailable lets it: 3 old serving, 2 new never ready.
    assert len(old) == replicas - unavailable and all(available(p) for p in old)
    assert len(new) == surge + unavailable and not any(_ready(p) for p in new)
    status = rollout_status(stack, ns, "web", timeout="20s")
    assert status.returncode != 0 and "exceeded its progress deadline" in (status.stdout + status.stderr), status


def test_recreate_never_has_old_and_new_pods_at_once(stack: Stack) -> None:
    ns = "recreate"
    stack.put(ns, "deployments", deployment("web", 3, "nginx:1.27", strategy={"type": "Recreate"}))
    rolled_out(stack, ns, "web")
    watch = PodWatch(stack, ns)
    try:
        changed = stack.cli("set", "image", "deployment/web", "web=nginx:1.28", "-n", ns)
        assert changed.returncode == 0, changed
        rolled_out(stack, ns, "web")
    finally:
        states = watch.stop()
    hashes = [{p["metadata"]["labels"][HASH] for p in state} for state in states]  # every pod document, leaving too
    assert max(map(len, hashes)) == 1, [h for h in hashes if len(h) > 1][:3]
    assert {image_of(p) for p in pods(stack, ns)} == {"nginx:1.28"}


def test_a_paused_deployment_changes_nothing_until_resumed(stack: Stack) -> None:
    ns = "paused"
    stack.put(ns, "deployments", deployment("web", 2, "nginx:1.27"))
    rolled_out(stack, ns, "web")
    before = sorted(p["metadata"]["name"] for p in pods(stack, ns))
    paused = stack.cli("rollout", "pause", "deployment/web", "-n", ns)
    assert paused.returncode == 0, paused
    changed = stack.cli("set", "image", "deployment/web", "web=nginx:1.28", "-n", ns)
    assert changed.returncode == 0, changed
    wait_for(lambda: (d := stack.get(ns, "deployments", "web")) and d["status"].get("observedGeneration")
             == d["metadata"].get("generation"), timeout=30, interval=0.3)
    time.sleep(4)  # two resync ticks (every 2 s here) and every event: still nothing
    assert sorted(p["metadata"]["name"] for p in pods(stack, ns)) == before
    assert len(replica_sets(stack, ns)) == 1
    resumed = stack.cli("rollout", "resume", "deployment/web", "-n", ns)
    assert resumed.returncode == 0, resumed
    rolled_out(stack, ns, "web")
    assert {image_of(p) for p in pods(stack, ns)} == {"nginx:1.28"}
