"""The deployment planner over many states, in the in-memory world of deployment_sim."""

from __future__ import annotations

import copy
import random
from datetime import timedelta
from typing import Any

import pytest

from functions.api.deployment import parse_deployment, selector_change_problem
from functions.api.podtemplatehash import HASH_LABEL, pod_template_hash
from functions.controllers.deployments import deployment_at_rest, deployment_uid, revision_of
from functions.store import Create, RecordEvent, Update
from tests.unit.deployment_sim import NS, Pod, World, deployment, template

DPATH = f"namespaces/{NS}/deployments/web"


def world(**spec: Any) -> World:
    w = World()
    w.put(DPATH, deployment(**spec))
    return w


def rs_path(name: str) -> str:
    return f"namespaces/{NS}/replicaSets/{name}"


def fenceposts(doc: dict[str, Any]) -> tuple[int, int, int]:
    parsed = parse_deployment(doc, NS, "web")
    assert parsed.obj is not None, parsed.errors
    spec = parsed.obj.spec
    return spec.replicas, spec.max_surge(), spec.max_unavailable()


def test_first_pass_creates_the_replica_set_as_kubernetes_names_and_labels_it() -> None:
    w = world(replicas=3, minReadySeconds=5)
    w.docs[DPATH]["metadata"]["annotations"] = {"kubernetes.io/change-cause": "first", "team": "a"}
    plan = w.deployment_pass()
    hash_ = pod_template_hash(template())
    name = f"web-{hash_}"
    assert plan.created == [name]
    create = next(x for x in plan.writes if isinstance(x, Create))
    rs = create.data
    uid = deployment_uid(DPATH, w.created[DPATH])
    assert rs["metadata"]["labels"] == {"app": "web", HASH_LABEL: hash_}
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: hash_}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", HASH_LABEL: hash_}
    assert rs["spec"]["template"]["spec"] == template()["spec"]
    assert rs["metadata"]["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": uid,
        "controller": True, "blockOwnerDeletion": True,
    }]
    assert rs["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",  # 3 + ceil(25 % of 3)
        "kubernetes.io/change-cause": "first",
        "team": "a",
    }
    assert rs["spec"]["replicas"] == 3 and rs["spec"]["minReadySeconds"] == 5
    meta = w.docs[DPATH]["metadata"]
    assert meta["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert meta["uid"] == uid and meta["generation"] == 1
    progressing = w.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "True", "NewReplicaSetCreated", f'Created new replica set "{name}"'
    )
    assert [e.message for e in w.events] == [f"Scaled up replica set {name} from 0 to 3"]
    assert w.events[0].involved["kind"] == "Deployment"
    assert revision_of(w.doc(rs_path(name))) == 1


def test_a_complete_rollout_is_at_rest_and_a_pass_then_writes_nothing() -> None:
    w = world(replicas=3)
    w.settle()
    status = w.status
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (3, 3, 3)
    assert status["unavailableReplicas"] == 0 and status["observedGeneration"] == 1
    progressing, available = w.condition("Progressing"), w.condition("Available")
    assert progressing is not None and available is not None
    name = next(iter(w.rs_replicas()))
    assert (progressing["reason"], progressing["message"]) == (
        "NewReplicaSetAvailable", f'ReplicaSet "{name}" has successfully progressed.'
    )
    assert (available["status"], available["reason"], available["message"]) == (
        "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
    )
    assert deployment_at_rest(w.docs[DPATH])
    assert w.deployment_pass().writes == []
    w.update_spec(template=template("nginx:2"))
    assert not deployment_at_rest(w.docs[DPATH])  # a spec no pass has seen


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (10, "25%", "25%", (3, 2)),
        (3, "25%", "25%", (1, 0)),
        (1, "25%", "25%", (1, 0)),
        (4, 1, 0, (1, 0)),
        (4, 0, 1, (0, 1)),
        (2, "0%", "1%", (0, 1)),  # both round to 0: one may be unavailable
        (3, 5, 10, (5, 3)),  # never more unavailable than replicas
        (0, "25%", "25%", (0, 0)),
    ],
)
def test_max_surge_rounds_up_and_max_unavailable_down(
    replicas: int, surge: Any, unavailable: Any, expected: tuple[int, int]
) -> None:
    doc = deployment(replicas=replicas, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
    assert fenceposts(doc)[1:] == expected


def test_recreate_has_neither_surge_nor_unavailability_budget() -> None:
    assert fenceposts(deployment(replicas=4, strategy={"type": "Recreate"}))[1:] == (0, 0)


def _check_bounds(w: World, replicas: int, surge: int, unavailable: int) -> None:
    live = w.live()
    assert len(live) <= replicas + surge, f"{len(live)} pods, more than {replicas} + {surge}"
    ready = sum(p.ready for p in live)
    assert ready >= replicas - unavailable, f"{ready} available, fewer than {replicas} - {unavailable}"


STRATEGIES = [
    (10, "25%", "25%"),
    (10, 1, 0),
    (10, 0, 1),
    (5, 2, 2),
    (7, "50%", "10%"),
    (3, "100%", 0),
    (1, 0, 1),
    (4, 3, "0%"),
]


@pytest.mark.parametrize(("replicas", "surge", "unavailable"), STRATEGIES)
@pytest.mark.parametrize("seed", range(6))
def test_a_rolling_update_never_breaks_its_bounds(replicas: int, surge: Any, unavailable: Any, seed: int) -> None:
    """Deployment passes, passes of all ReplicaSets or of one (its status moves, the
    others' stay as they were), and pods becoming ready, in random order (passes repeated
    or delivered late, one ReplicaSet lagging another): at every step no more than
    replicas + maxSurge pods that are not terminating and no fewer than
    replicas - maxUnavailable available."""
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    w = world(replicas=replicas, strategy=strategy)
    w.settle()
    _, max_surge, max_unavailable = fenceposts(w.docs[DPATH])
    rng = random.Random(seed)
    w.rng = random.Random(seed + 100)
    for image in ("nginx:2", "nginx:3"):
        w.update_spec(template=template(image))
        for _ in range(3000):
            action = rng.choice(("deployment", "deployment", "rs", "one", "one", "one", "ready"))
            if action == "deployment":
                w.deployment_pass()
            elif action == "rs":
                w.rs_pass(linger=rng.random() < 0.5)
            elif action == "one":
                names = sorted(w.rs_replicas())
                w.one_rs_pass(rng.choice(names), linger=rng.random() < 0.5)
            else:
                w.become_ready(rng.random())
            _check_bounds(w, replicas, max_surge, max_unavailable)
            if deployment_at_rest(w.docs[DPATH]):
                break
        assert deployment_at_rest(w.docs[DPATH]), w.status
    sizes = w.rs_replicas()
    assert sorted(sizes.values()) == [0, 0, replicas]
    assert w.docs[DPATH]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    images = {w.docs[rs_path(p.rs)]["spec"]["template"]["spec"]["containers"][0]["image"] for p in w.live()}
    assert images == {"nginx:3"} and len(w.live()) == replicas


def test_a_rollout_with_max_surge_one_and_no_unavailability_goes_one_pod_at_a_time() -> None:
    w = world(replicas=4, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    w.settle()
    old = next(iter(w.rs_replicas()))
    w.update_spec(template=template("nginx:2"))
    plan = w.deployment_pass()
    new = plan.created[0]
    assert w.rs_replicas() == {old: 4, new: 1}
    w.rs_pass()
    assert w.deployment_pass().scaled == []  # the new pod is not available yet: nothing goes
    w.become_ready(1.0)
    w.rs_pass()
    plan = w.deployment_pass()
    assert plan.scaled == [f"{old} from 4 to 3"]
    assert w.events[-1].message == f"Scaled down replica set {old} from 4 to 3"
    w.rs_pass()
    plan = w.deployment_pass()
    assert plan.scaled == [f"{new} from 1 to 2"]
    assert w.events[-1].message == f"Scaled up replica set {new} from 1 to 2"


def test_recreate_never_runs_old_and_new_pods_at_once() -> None:
    w = world(replicas=3, strategy={"type": "Recreate"})
    w.settle()
    rng = random.Random(7)
    w.update_spec(template=template("nginx:2"))
    for _ in range(500):
        action = rng.choice(("deployment", "rs", "ready"))
        if action == "deployment":
            w.deployment_pass()
        elif action == "rs":
            w.rs_pass(linger=True)  # removed pods stay a pass as terminating
        else:
            w.become_ready(0.5)
        owners = {p.rs for p in w.pods}
        assert len(owners) <= 1, f"old and new pods at once: {owners}"
        if deployment_at_rest(w.docs[DPATH]):
            break
    assert deployment_at_rest(w.docs[DPATH])
    assert sorted(w.rs_replicas().values()) == [0, 3]


def test_recreate_waits_for_terminating_pods_of_the_old_replica_set() -> None:
    w = world(replicas=2, strategy={"type": "Recreate"})
    w.settle()
    w.update_spec(template=template("nginx:2"))
    plan = w.deployment_pass()
    assert plan.created == [] and len(plan.scaled) == 1  # old scaled to 0 first
    w.rs_pass(linger=True)
    assert w.replica_sets()[0].data["status"]["terminatingReplicas"] == 2
    assert w.deployment_pass().created == []  # pods still terminating
    w.rs_pass(linger=True)
    assert w.deployment_pass().created != []


def test_recreate_does_not_wait_for_finished_pods_of_the_old_replica_set() -> None:
    """An old ReplicaSet keeps its Failed and Succeeded pods for inspection: they run
    nothing, so Recreate goes on (Kubernetes' oldPodsRunning skips terminal phases)."""
    w = world(replicas=2, strategy={"type": "Recreate"})
    w.settle()
    old = next(iter(w.rs_replicas()))
    w.update_spec(template=template("nginx:2"))
    w.deployment_pass()
    w.rs_pass()
    assert w.rs_replicas() == {old: 0} and w.pods == []
    w.pods += [Pod("failed-1", old, phase="Failed"), Pod("done-1", old, phase="Succeeded")]
    assert len(w.deployment_pass().created) == 1
    w2 = world(replicas=2, strategy={"type": "Recreate"})
    w2.settle()
    old2 = next(iter(w2.rs_replicas()))
    w2.update_spec(template=template("nginx:2"))
    w2.deployment_pass()
    w2.rs_pass()
    w2.pods += [Pod("failed-1", old2, phase="Failed"), Pod("lost-1", old2, phase="Unknown")]
    assert w2.deployment_pass().created == []  # a pod in phase Unknown may still run


def test_a_paused_deployment_changes_nothing_and_resumes() -> None:
    w = world(replicas=3)
    w.settle()
    before = w.rs_replicas()
    w.update_spec(paused=True, template=template("nginx:2"))
    plan = w.deployment_pass()
    assert plan.created == [] and plan.scaled == []
    assert not [x for x in plan.writes if x.path != DPATH and not hasattr(x, "event_id")]
    progressing = w.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "Unknown", "DeploymentPaused", "Deployment is paused"
    )
    w.rs_pass()
    assert w.deployment_pass().writes == []
    assert w.rs_replicas() == before
    w.update_spec(paused=False)
    plan = w.deployment_pass()
    assert len(plan.created) == 1
    progressing = w.condition("Progressing")
    assert progressing is not None and progressing["reason"] == "NewReplicaSetCreated"


def test_scaling_a_paused_deployment_still_scales() -> None:
    w = world(replicas=3)
    w.settle()
    w.update_spec(paused=True, replicas=5)
    plan = w.deployment_pass()
    assert plan.scaled == [f"{next(iter(w.rs_replicas()))} from 3 to 5"]


def test_a_stalled_image_stops_at_max_unavailable_and_exceeds_its_deadline() -> None:
    w = world(replicas=4, progressDeadlineSeconds=60,
              strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}})
    w.settle()
    w.update_spec(template=template("broken"))
    for _ in range(20):
        w.deployment_pass()
        w.rs_pass()
        w.become_ready(1.0)
        w.rs_pass()
        _check_bounds(w, 4, 1, 1)
    progressing = w.condition("Progressing")
    assert progressing is not None and progressing["reason"] == "ReplicaSetUpdated"
    assert sum(p.ready for p in w.live()) == 3  # replicas - maxUnavailable, and no further
    assert not deployment_at_rest(w.docs[DPATH])  # the deadline is pending: resync passes it
    w.now += timedelta(seconds=59)
    w.deployment_pass()
    progressing = w.condition("Progressing")
    assert progressing is not None and progressing["reason"] == "ReplicaSetUpdated"
    w.now += timedelta(seconds=2)
    w.deployment_pass()
    progressing = w.condition("Progressing")
    new = next(name for name in w.rs_replicas() if w.docs[rs_path(name)]["spec"]["template"]["spec"]["containers"][0]["image"] == "broken")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "False", "ProgressDeadlineExceeded", f'ReplicaSet "{new}" has timed out progressing.'
    )
    assert deployment_at_rest(w.docs[DPATH])  # nothing more a timer could change
    assert w.deployment_pass().writes == []


def test_history_beyond_the_limit_is_deleted_oldest_first() -> None:
    w = world(replicas=2, revisionHistoryLimit=2)
    w.settle()
    for version in range(2, 7):
        w.update_spec(template=template(f"nginx:{version}"))
        w.settle()
    revisions = sorted(int(rs.data["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) for rs in w.replica_sets())
    assert revisions == [4, 5, 6]


def test_no_history_kept_with_a_limit_of_zero() -> None:
    w = world(replicas=1, revisionHistoryLimit=0)
    w.settle()
    w.update_spec(template=template("nginx:2"))
    w.settle()
    assert len(w.replica_sets()) == 1


def test_a_name_taken_by_another_template_raises_the_collision_count() -> None:
    w = world(replicas=2)
    taken = f"web-{pod_template_hash(template())}"
    w.put(rs_path(taken), {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": taken, "labels": {"other": "x"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"other": "x"}},
                 "template": {"metadata": {"labels": {"other": "x"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}},
    })
    plan = w.deployment_pass()
    assert plan.collision and plan.created == []
    assert w.status["collisionCount"] == 1
    plan = w.deployment_pass()
    assert plan.created == [f"web-{pod_template_hash(template(), 1)}"]
    assert w.status["collisionCount"] == 1


def test_scaling_mid_rollout_is_proportional() -> None:
    """Kubernetes' example: 10 replicas, maxSurge 3, old 8 and new 5 (max-replicas 13);
    scaled to 20, the 10 more go 6 to the old and 4 to the new (23 in all)."""
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}
    w = world(replicas=10, strategy=strategy)
    w.settle()
    old = next(iter(w.rs_replicas()))
    w.update_spec(template=template("nginx:2"))
    w.deployment_pass()  # new at 3
    w.rs_pass()
    w.deployment_pass()  # old down to 8 (the budget allows 2 unavailable)
    w.rs_pass()
    w.update_spec(**{"template": template("nginx:2")})
    new = next(name for name in w.rs_replicas() if name != old)
    w.docs[rs_path(new)]["spec"]["replicas"] = 5
    w.rs_pass()
    assert w.rs_replicas() == {old: 8, new: 5}
    w.update_spec(replicas=20)
    plan = w.deployment_pass()
    assert w.rs_replicas() == {old: 14, new: 9}, plan.scaled
    for name in (old, new):
        annotations = w.docs[rs_path(name)]["metadata"]["annotations"]
        assert (annotations["deployment.kubernetes.io/desired-replicas"], annotations["deployment.kubernetes.io/max-replicas"]) == ("20", "23")


def test_an_invalid_deployment_is_reported_once_and_touches_nothing() -> None:
    w = world(replicas=2, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}})
    plan = w.deployment_pass()
    assert plan.errors and plan.created == []
    failure = w.condition("ReplicaFailure")
    assert failure is not None and failure["reason"] == "InvalidSpec"
    assert "may not be 0 when `maxSurge` is 0" in failure["message"]
    assert [e.type for e in w.events] == ["Warning"]
    assert w.deployment_pass().writes == []
    assert deployment_at_rest(w.docs[DPATH])
    w.update_spec(strategy={"type": "RollingUpdate"})
    plan = w.deployment_pass()
    assert len(plan.created) == 1 and w.condition("ReplicaFailure") is None


def test_orphans_that_match_are_adopted_and_ours_that_do_not_are_released() -> None:
    w = world(replicas=2)
    hash_ = pod_template_hash(template())
    orphan = f"web-{hash_}"
    w.put(rs_path(orphan), {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": orphan, "labels": {"app": "web", HASH_LABEL: hash_}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", HASH_LABEL: hash_}},
                 "template": {"metadata": {"labels": {"app": "web", HASH_LABEL: hash_}}, "spec": template()["spec"]}},
    })
    plan = w.deployment_pass()
    assert plan.adopted == [orphan] and plan.created == []
    refs = w.docs[rs_path(orphan)]["metadata"]["ownerReferences"]
    assert refs[0]["uid"] == deployment_uid(DPATH, w.created[DPATH]) and refs[0]["controller"] is True
    w.docs[rs_path(orphan)]["metadata"]["labels"] = {"app": "other"}
    plan = w.deployment_pass()
    assert plan.released == [orphan]
    assert w.docs[rs_path(orphan)]["metadata"]["ownerReferences"] == []


def test_rolling_back_reuses_the_old_replica_set_with_a_new_revision() -> None:
    w = world(replicas=2)
    w.settle()
    first = next(iter(w.rs_replicas()))
    w.update_spec(template=template("nginx:2"))
    w.settle()
    w.update_spec(template=template())  # rollout undo: the first template again
    plan = w.deployment_pass()
    assert plan.created == []
    w.settle()
    annotations = w.docs[rs_path(first)]["metadata"]["annotations"]
    assert annotations["deployment.kubernetes.io/revision"] == "3"
    assert annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert w.rs_replicas()[first] == 2
    assert w.docs[DPATH]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_every_deployment_write_is_guarded_and_moves_the_resource_version() -> None:
    w = world(replicas=2)
    plan = w.deployment_pass()
    own = [x for x in plan.writes if isinstance(x, Update) and x.path == DPATH]
    assert len(own) == 1 and own[0].if_updated_at is not None
    assert "metadata.resourceVersion" in own[0].fields
    w.rs_pass()
    plan = w.deployment_pass()
    rs_updates = [x for x in plan.writes if isinstance(x, Update) and x.path != DPATH]
    assert all(x.if_updated_at is not None for x in rs_updates)


def test_min_ready_seconds_follows_the_deployment_to_its_new_replica_set() -> None:
    w = world(replicas=1)
    w.settle()
    w.update_spec(minReadySeconds=7)
    w.deployment_pass()
    assert [rs.data["spec"]["minReadySeconds"] for rs in w.replica_sets()] == [7]


def test_deployment_at_rest_reads_only_the_document() -> None:
    w = world(replicas=2, paused=True)
    assert not deployment_at_rest(w.docs[DPATH])  # never passed
    w.deployment_pass()
    assert not deployment_at_rest(w.docs[DPATH])  # paused before any replica set: 0 of 2
    assert not deployment_at_rest({"spec": "junk", "status": 5})


def test_an_old_replica_set_whose_scale_down_is_pending_is_never_scaled_back_up() -> None:
    """The old ReplicaSet was scaled 5 → 4 but its pass has not run: its status still says
    5 available. The next Deployment pass neither scales it up again nor counts the fifth
    pod as available (Kubernetes' cleanupUnhealthyReplicas refuses a negative count)."""
    w = world(replicas=5, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}})
    w.settle()
    old = next(iter(w.rs_replicas()))
    w.update_spec(template=template("nginx:2"))
    seen = len(w.events)
    plan = w.deployment_pass()
    new = plan.created[0]
    assert w.rs_replicas() == {old: 4, new: 1}
    assert w.docs[rs_path(old)]["status"]["availableReplicas"] == 5  # its pass is late
    w.one_rs_pass(new)
    w.become_ready(1.0)
    w.one_rs_pass(new)
    plan = w.deployment_pass()
    assert not [m for m in plan.scaled if m.startswith(old) and int(m.split()[-1]) > 4], plan.scaled
    assert not [e for e in w.events[seen:] if e.message.startswith(f"Scaled up replica set {old}")]
    # available: 1 new + 4 old (the fifth is going): one more old pod may go
    assert w.rs_replicas() == {old: 3, new: 1}
    assert plan.scaled == [f"{old} from 4 to 3"]
    w.one_rs_pass(old)
    assert sum(p.ready for p in w.live()) >= 5 - 1


def test_a_deployment_without_metadata_still_guards_every_commit() -> None:
    """The name comes from the document id, so ``metadata`` may be missing: the pass
    writes one (uid, generation, resourceVersion), and every pass that writes a
    ReplicaSet also writes the Deployment under its guard."""
    w = World()
    doc = deployment(replicas=3)
    del doc["metadata"]
    w.put(DPATH, doc)
    w.deployment_pass()
    meta = w.docs[DPATH]["metadata"]
    assert meta["uid"] == deployment_uid(DPATH, w.created[DPATH]) and meta["generation"] == 1
    assert meta["resourceVersion"] == "1"
    del w.docs[DPATH]["metadata"]  # dropped again by a client's put: written again
    w.update_spec(template=template("nginx:2"))
    for _ in range(40):
        plan = w.deployment_pass()
        if any(x.path != DPATH and isinstance(x, Update | Create) for x in plan.writes):
            own = [x for x in plan.writes if isinstance(x, Update) and x.path == DPATH]
            assert len(own) == 1 and own[0].if_updated_at is not None, plan.writes
        w.rs_pass()
        w.become_ready(1.0)
        w.rs_pass()
    assert deployment_at_rest(w.docs[DPATH])
    assert w.docs[DPATH]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


HOSTILE_REPLICA_SETS: list[Any] = [
    {"metadata": 5, "spec": "x", "status": []},
    {"metadata": {"ownerReferences": 5, "labels": 5, "annotations": [1]}, "status": {"conditions": 5}},
    {"metadata": {"ownerReferences": [5, "x", None, {"controller": True, "uid": 7}], "labels": {"app": "other"},
                  "creationTimestamp": "yesterday", "deletionTimestamp": 5},
     "spec": {"replicas": True, "template": [], "minReadySeconds": "9"},
     "status": {"conditions": [5, {"type": "ReplicaFailure"}], "availableReplicas": "9", "replicas": -4}},
    {"metadata": {"ownerReferences": {"controller": True}, "annotations": {"deployment.kubernetes.io/revision": []}},
     "spec": {"selector": 5, "template": {"metadata": 5}}, "status": {"conditions": {"type": "ReplicaFailure"}}},
    # matches the Deployment's selector: adopted (as Kubernetes would) and scaled to 0
    {"metadata": {"ownerReferences": 5, "labels": {"app": "web"}},
     "spec": {"replicas": 2, "template": 5}, "status": {"conditions": "none", "availableReplicas": 2}},
]


def test_malformed_replica_sets_next_to_a_deployment_break_no_pass() -> None:
    """ReplicaSet documents with every field of the wrong type, in the Deployment's
    namespace: every pass reads them leniently, and the Deployment still rolls out."""
    w = world(replicas=3)
    for index, data in enumerate(HOSTILE_REPLICA_SETS):
        w.put(rs_path(f"junk-{index}"), data)
    w.settle()
    w.update_spec(template=template("nginx:2"))
    w.settle()
    ours = [rs for rs in w.replica_sets() if not rs.name.startswith("junk-")]
    assert sorted(rs.data["spec"]["replicas"] for rs in ours) == [0, 3]
    assert w.docs[rs_path("junk-4")]["spec"]["replicas"] == 0
    refs = w.docs[rs_path("junk-4")]["metadata"]["ownerReferences"]
    assert [r["uid"] for r in refs] == [deployment_uid(DPATH, w.created[DPATH])]
    for index in range(4):
        assert w.docs[rs_path(f"junk-{index}")] == HOSTILE_REPLICA_SETS[index]  # not ours: untouched
    assert w.status["availableReplicas"] == 3 and deployment_at_rest(w.docs[DPATH])


def test_a_changed_selector_is_refused_as_immutable_and_touches_no_replica_set() -> None:
    """apps/v1: spec.selector is immutable. Acting on a new one would release the old
    ReplicaSet (its pods kept, ownerless, forever) and make another's pods besides."""
    w = world(replicas=2)
    w.settle()
    before = copy.deepcopy({rs.path: rs.data for rs in w.replica_sets()})
    labels = {"app": "web", "tier": "front"}
    w.update_spec(selector={"matchLabels": labels},
                  template={**template(), "metadata": {"labels": labels}})
    plan = w.deployment_pass()
    assert plan.errors == ['spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"front"}}: field is immutable']
    assert plan.released == [] and plan.created == []
    assert not [x for x in plan.writes if not isinstance(x, RecordEvent) and x.path != DPATH]
    failure = w.condition("ReplicaFailure")
    assert failure is not None and (failure["reason"], failure["message"]) == ("InvalidSpec", plan.errors[0])
    assert deployment_at_rest(w.docs[DPATH]) and w.deployment_pass().writes == []
    w.rs_pass()
    assert {rs.path: rs.data for rs in w.replica_sets()} == before
    # the same selector written another way is no change; the old one back is valid again
    w.update_spec(selector={"matchLabels": {"app": "web"}, "matchExpressions": []}, template=template())
    plan = w.deployment_pass()
    assert plan.errors == [] and plan.released == [] and plan.created == []
    assert w.condition("ReplicaFailure") is None


def test_selector_change_problem_is_the_clients_check() -> None:
    old = deployment()
    assert selector_change_problem(old, deployment(replicas=5)) is None
    new = deployment()
    new["spec"]["selector"] = {"matchLabels": {"app": "web"}, "matchExpressions": []}
    assert selector_change_problem(old, new) is None
    new["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}
    problem = selector_change_problem(old, new)
    assert problem is not None and problem.startswith("spec.selector: Invalid value: ") and problem.endswith(": field is immutable")
    assert selector_change_problem({"spec": 5}, new) is None  # nothing a pass acted on
    assert selector_change_problem(old, "junk") is not None
