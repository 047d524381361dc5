"""Deployments against the real Firestore emulator: the Deployment pass and the real
ReplicaSet pass, one after the other, as their triggers would run them."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc

from functions.api.podtemplatehash import HASH_LABEL, pod_template_hash
from functions.controllers.deployments import (
    cascade_delete_deployment,
    deployment_at_rest,
    deployment_uid,
    sync_deployment,
)
from functions.controllers.replica_kinds import REPLICA_SET, controller_uid
from functions.controllers.replication import sync_controller
from functions.runtime import Runtime
from functions.store import (
    DEPLOYMENTS,
    REPLICA_SETS,
    Create,
    Doc,
    StaleWrite,
    Store,
    Write,
    doc_path,
)
from tests.helpers import pods

NS = "default"
DPATH = doc_path(NS, DEPLOYMENTS, "web")


def template(image: str = "nginx:1.27") -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}


def write_deployment(store: Store, replicas: int = 2, **spec: Any) -> None:
    store.client.document(DPATH).set({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template(), **spec},
    })


def data(store: Store, path: str = DPATH) -> dict[str, Any]:
    return store.client.document(path).get().to_dict() or {}


def replica_sets(store: Store) -> dict[str, dict[str, Any]]:
    return {d.name: d.data for d in store.in_namespace(NS, REPLICA_SETS)}


def dpass(rt: Runtime) -> Any:
    return sync_deployment(rt.store, rt.settings, NS, "web", rt.clock)


def rs_passes(rt: Runtime) -> None:
    for name in replica_sets(rt.store):
        sync_controller(rt.store, rt.settings, NS, name, rt.clock, kind=REPLICA_SET)


def make_ready(store: Store) -> None:
    """What agents would report: every pod not being deleted Running and Ready (for an hour)."""
    since = datetime.now(UTC) - timedelta(hours=1)
    for pod in pods(store, NS):
        if not pod.being_deleted and not pod.ready:
            store.client.document(pod.path).update({
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": since}]},
            })


def finish_terminating(store: Store) -> None:
    """What the pod runtime would do: a marked pod's VM gone, its document deleted."""
    for pod in pods(store, NS):
        if pod.being_deleted:
            store.client.document(pod.path).delete()


def condition(store: Store, type_: str) -> dict[str, Any] | None:
    return next((c for c in data(store).get("status", {}).get("conditions", []) if c["type"] == type_), None)


def scaling_events(store: Store) -> list[dict[str, Any]]:
    return [e for e in (s.to_dict() or {} for s in store.client.collection(f"namespaces/{NS}/events").stream())
            if e.get("reason") == "ScalingReplicaSet"]


def converge(rt: Runtime, rounds: int = 30) -> None:
    for _ in range(rounds):
        dpass(rt)
        rs_passes(rt)
        make_ready(rt.store)
        finish_terminating(rt.store)
        rs_passes(rt)
        if deployment_at_rest(data(rt.store)):
            return
    raise AssertionError(data(rt.store).get("status"))


def test_a_deployment_makes_its_replica_set_and_the_replica_set_its_pods(rt: Runtime) -> None:
    write_deployment(rt.store, replicas=3)
    result = dpass(rt)
    assert result.created == 1 and result.passes == 1
    hash_ = pod_template_hash(template())
    name = f"web-{hash_}"
    rs = replica_sets(rt.store)[name]
    deployment = rt.store.get(DPATH)
    assert deployment is not None
    uid = deployment_uid(DPATH, deployment.create_time)
    assert rs["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                  "uid": uid, "controller": True, "blockOwnerDeletion": True}]
    assert rs["metadata"]["labels"][HASH_LABEL] == hash_
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: hash_}
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert data(rt.store)["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    rs_passes(rt)
    made = [p for p in pods(rt.store, NS) if not p.being_deleted]
    assert len(made) == 3
    rs_doc = rt.store.get(doc_path(NS, REPLICA_SETS, name))
    assert rs_doc is not None
    rs_uid = controller_uid(rs_doc.path, rs_doc.create_time)
    assert all(p.labels == {"app": "web", HASH_LABEL: hash_} for p in made)
    assert all((p.controller_ref() or {}).get("uid") == rs_uid for p in made)
    converge(rt)
    status = data(rt.store)["status"]
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (3, 3, 3)
    progressing = condition(rt.store, "Progressing")
    assert progressing is not None and progressing["reason"] == "NewReplicaSetAvailable"
    assert [e["message"] for e in scaling_events(rt.store)] == [f"Scaled up replica set {name} from 0 to 3"]


def _bounds(store: Store, replicas: int, surge: int, unavailable: int) -> None:
    live = [p for p in pods(store, NS) if not p.being_deleted]
    assert len(live) <= replicas + surge, [p.name for p in live]
    assert sum(p.ready for p in live) >= replicas - unavailable


def test_a_new_template_rolls_out_one_pod_at_a_time(rt: Runtime) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    write_deployment(rt.store, replicas=2, strategy=strategy)
    converge(rt)
    old = next(iter(replica_sets(rt.store)))
    rt.store.client.document(DPATH).update({"spec.template": template("nginx:1.28")})
    dpass(rt)
    sets = replica_sets(rt.store)
    new = next(n for n in sets if n != old)
    assert {n: s["spec"]["replicas"] for n, s in sets.items()} == {old: 2, new: 1}
    for _ in range(20):
        rs_passes(rt)
        _bounds(rt.store, 2, 1, 0)
        make_ready(rt.store)
        finish_terminating(rt.store)
        rs_passes(rt)
        _bounds(rt.store, 2, 1, 0)
        dpass(rt)
        _bounds(rt.store, 2, 1, 0)
        if deployment_at_rest(data(rt.store)):
            break
    assert deployment_at_rest(data(rt.store))
    sets = replica_sets(rt.store)
    assert {n: s["spec"]["replicas"] for n, s in sets.items()} == {old: 0, new: 2}
    assert sets[new]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    images = {p.labels[HASH_LABEL] for p in pods(rt.store, NS)}
    assert images == {sets[new]["metadata"]["labels"][HASH_LABEL]}


def test_recreate_creates_the_new_replica_set_only_once_old_pods_are_gone(rt: Runtime) -> None:
    write_deployment(rt.store, replicas=2, strategy={"type": "Recreate"})
    converge(rt)
    rt.store.client.document(DPATH).update({"spec.template": template("nginx:1.28")})
    dpass(rt)  # old scaled to 0
    rs_passes(rt)  # old pods marked for deletion (they hold the VM finalizer)
    assert len(replica_sets(rt.store)) == 1
    assert dpass(rt).created == 0  # terminating pods remain
    assert len(replica_sets(rt.store)) == 1
    finish_terminating(rt.store)
    rs_passes(rt)
    assert dpass(rt).created == 1
    converge(rt)
    owners = {(p.controller_ref() or {}).get("name") for p in pods(rt.store, NS)}
    assert len(owners) == 1


class RacedStore(Store):
    """The real store, but another writer changes the Deployment just before the first commit."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.client)
        self.raced = False

    def commit(self, writes: Sequence[Write], now: datetime) -> None:
        if not self.raced:
            self.raced = True
            self.client.document(DPATH).update({"metadata.labels": {"touched": "yes"}})
        super().commit(writes, now)


def test_a_stale_commit_reads_again_and_keeps_the_other_writer(rt: Runtime) -> None:
    write_deployment(rt.store, replicas=2)
    raced = RacedStore(rt.store)
    result = sync_deployment(raced, rt.settings, NS, "web", rt.clock)
    assert raced.raced and result.passes == 1 and result.created == 1
    assert data(rt.store)["metadata"]["labels"] == {"touched": "yes"}
    assert len(replica_sets(rt.store)) == 1
    assert len(scaling_events(rt.store)) == 1


def test_the_guard_refuses_a_commit_planned_on_a_stale_read(rt: Runtime) -> None:
    from functions.controllers.deployments import plan_deployment

    write_deployment(rt.store, replicas=2)
    before = rt.store.get(DPATH)
    assert before is not None
    plan = plan_deployment(before, [], [], rt.clock())
    rt.store.client.document(DPATH).update({"spec.replicas": 5})
    try:
        rt.store.commit(plan.writes, rt.clock())
    except StaleWrite:
        pass
    else:
        raise AssertionError("a stale plan committed")
    assert replica_sets(rt.store) == {}


def test_concurrent_passes_make_one_replica_set(rt: Runtime) -> None:
    write_deployment(rt.store, replicas=3)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: dpass(rt), range(4)))
    assert sum(r.created for r in results) == 1
    assert [s["spec"]["replicas"] for s in replica_sets(rt.store).values()] == [3]
    assert len(scaling_events(rt.store)) == 1


def test_events_delivered_twice_change_nothing(rt: Runtime) -> None:
    """Every pass of a rollout delivered again (and again): the repeats reach a fixed
    point at once, write nothing there, and the bounds hold throughout."""
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    write_deployment(rt.store, replicas=3, strategy=strategy)
    converge(rt)
    rt.store.client.document(DPATH).update({"spec.template": template("nginx:1.28")})
    for _ in range(20):
        repeats = 0
        while dpass(rt).passes:
            repeats += 1
            assert repeats <= 2, "repeated events keep writing"
            _bounds(rt.store, 3, 1, 1)
        times = {d.path: d.update_time for d in [*rt.store.in_namespace(NS, REPLICA_SETS), rt.store.get(DPATH)] if d}
        assert dpass(rt).passes == 0
        assert {d.path: d.update_time for d in [*rt.store.in_namespace(NS, REPLICA_SETS), rt.store.get(DPATH)] if d} == times
        rs_passes(rt)
        rs_passes(rt)
        _bounds(rt.store, 3, 1, 1)
        make_ready(rt.store)
        finish_terminating(rt.store)
        rs_passes(rt)
        if deployment_at_rest(data(rt.store)):
            break
    assert deployment_at_rest(data(rt.store))
    assert sorted(s["spec"]["replicas"] for s in replica_sets(rt.store).values()) == [0, 3]


def test_a_deleted_deployment_takes_its_replica_sets(rt: Runtime) -> None:
    write_deployment(rt.store, replicas=1)
    converge(rt)
    rt.store.client.document(DPATH).update({"spec.template": template("nginx:1.28")})
    converge(rt)
    deployment = rt.store.get(DPATH)
    assert isinstance(deployment, Doc)
    uid = deployment_uid(DPATH, deployment.create_time)
    other = doc_path(NS, REPLICA_SETS, "unrelated")
    rt.store.client.document(other).set({"metadata": {"name": "unrelated"}, "spec": {"replicas": 0}})
    junk = doc_path(NS, REPLICA_SETS, "junk")  # wrong types everywhere: read leniently, not ours
    rt.store.client.document(junk).set({"metadata": {"ownerReferences": 5, "labels": 5}, "status": {"conditions": 5}})
    rt.store.client.document(DPATH).delete()
    assert cascade_delete_deployment(rt.store, NS, "web", uid, rt.clock) == 2
    assert sorted(replica_sets(rt.store)) == ["junk", "unrelated"]
    assert cascade_delete_deployment(rt.store, NS, "web", uid, rt.clock) == 0


def test_a_cascade_of_many_batches_counts_only_stale_commits_as_attempts(rt: Runtime, monkeypatch: Any) -> None:
    """Each batch of deletes that commits is progress, not an attempt: a Deployment with
    more ReplicaSets than batches x attempts is still cascaded (batches of 1 here)."""
    import functions.controllers.deployments as deployments

    monkeypatch.setattr(deployments, "CASCADE_BATCH", 1)
    write_deployment(rt.store, replicas=0)
    dpass(rt)
    deployment = rt.store.get(DPATH)
    assert isinstance(deployment, Doc)
    uid = deployment_uid(DPATH, deployment.create_time)
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": uid, "controller": True}
    batch = rt.store.client.batch()
    for index in range(deployments.MAX_ATTEMPTS + 3):
        batch.set(rt.store.client.document(doc_path(NS, REPLICA_SETS, f"web-old{index}")),
                  {"metadata": {"ownerReferences": [ref]}, "spec": {"replicas": 0}})
    batch.commit()
    rt.store.client.document(DPATH).delete()
    assert cascade_delete_deployment(rt.store, NS, "web", uid, rt.clock) == deployments.MAX_ATTEMPTS + 4
    assert replica_sets(rt.store) == {}


class RefusingReplicaSetCreates(Store):
    """The real store, but Firestore refuses any commit that creates a ReplicaSet (as a
    document over its size limit would be)."""

    def commit(self, writes: Sequence[Write], now: datetime) -> None:
        if any(isinstance(w, Create) and w.path.startswith(f"namespaces/{NS}/replicaSets/") for w in writes):
            raise gexc.InvalidArgument("maximum entity size is 1048576 bytes")
        super().commit(writes, now)


def test_a_refused_replica_set_create_is_reported_on_the_deployment(rt: Runtime) -> None:
    write_deployment(rt.store, replicas=2)
    refusing = RefusingReplicaSetCreates(rt.store.client)
    result = sync_deployment(refusing, rt.settings, NS, "web", rt.clock)  # no raise
    assert result.failed and result.created == 0 and replica_sets(rt.store) == {}
    progressing = condition(rt.store, "Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"]) == ("False", "ReplicaSetCreateError")
    assert progressing["message"].startswith('Failed to create new replica set "web-')
    assert "maximum entity size" in progressing["message"]
    assert not deployment_at_rest(data(rt.store))  # resync passes it again
    warnings = [e for e in (s.to_dict() or {} for s in rt.store.client.collection(f"namespaces/{NS}/events").stream())
                if e.get("type") == "Warning"]
    assert [e["reason"] for e in warnings] == ["ReplicaSetCreateError"]
    assert sync_deployment(refusing, rt.settings, NS, "web", rt.clock).failed  # the same condition: no new write
    assert condition(rt.store, "Progressing") == progressing
    converge(rt)  # Firestore takes it now: the rollout goes on
    progressing = condition(rt.store, "Progressing")
    assert progressing is not None and progressing["reason"] == "NewReplicaSetAvailable"


def test_a_taken_name_is_passed_over_in_the_same_invocation(rt: Runtime) -> None:
    """A ReplicaSet of another template holds the hash's name: the pass raises the
    collision count and, since that status write wakes no trigger, tries the next name
    at once rather than at the next resync tick."""
    write_deployment(rt.store, replicas=2)
    taken = f"web-{pod_template_hash(template())}"
    other = {"metadata": {"labels": {"other": "x"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    rt.store.client.document(doc_path(NS, REPLICA_SETS, taken)).set({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": taken, "labels": {"other": "x"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"other": "x"}}, "template": other}})
    result = dpass(rt)
    assert result.collisions == 1 and result.created == 1
    assert data(rt.store)["status"]["collisionCount"] == 1
    assert f"web-{pod_template_hash(template(), 1)}" in replica_sets(rt.store)
