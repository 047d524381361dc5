"""The sync pass decision and its policies, as pure functions: one test per outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions.config import Settings
from functions.controllers.replica_kinds import controller_uid, owner_ref
from functions.controllers.replication import plan_sync
from functions.pod_policy import PodInfo, filter_active_pods, rank_for_deletion
from functions.store import Create, Delete, Doc, RecordEvent, Update
from tests.helpers import rc_doc

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=1)
PATH = "namespaces/default/replicationControllers/web"
UID = controller_uid(PATH, CREATED)
MINE = owner_ref("web", UID)
SETTINGS = Settings(project="unit", slow_start=False)


def rc(replicas: int, **data: Any) -> Doc:
    return Doc(PATH, {**rc_doc("web", replicas), **data}, NOW - timedelta(minutes=1), CREATED)


def pod(name: str, *, owner: dict[str, Any] | None = MINE, labels: dict[str, str] | None = None, **fields: Any) -> PodInfo:
    return PodInfo(
        path=f"namespaces/default/pods/{name}",
        name=name,
        update_time=NOW,
        labels={"app": "web"} if labels is None else labels,
        owner_references=[owner] if owner else [],
        **fields,
    )


def on(writes: list[Any], name: str) -> list[Any]:
    return [w for w in writes if not isinstance(w, RecordEvent) and w.path.endswith(f"/{name}")]


def kinds(writes: list[Any]) -> list[str]:
    return [type(w).__name__ for w in writes]


def test_slow_start_holding_creates_back_asks_for_no_second_pass() -> None:
    """A pass loops in one invocation only while the burst (or a commit's size) held
    creates back; slow start's window holds until pods change, so looping would only
    write the controller again and again (the hot spot)."""
    slow = Settings(project="unit", slow_start=True)
    plan = plan_sync(rc(100), [], slow, NOW)
    assert len(plan.creating) == 1 and not plan.more
    burst = plan_sync(rc(100), [], SETTINGS, NOW)
    assert len(burst.creating) == SETTINGS.burst and burst.more


def test_too_few_creates_the_difference_with_owner_and_labels() -> None:
    plan = plan_sync(rc(3), [pod("web-aaaaa")], SETTINGS, NOW)
    creates = [w for w in plan.writes if isinstance(w, Create)]
    assert len(creates) == 2 and len(plan.creating) == 2
    for create in creates:
        meta = create.data["metadata"]
        assert meta["ownerReferences"] == [MINE] and meta["labels"] == {"app": "web"}
        assert create.data["spec"]["containers"][0]["image"] == "nginx:1.27"
        assert create.data["status"] == {"phase": "Pending"}
    [update] = [w for w in plan.writes if isinstance(w, Update)]
    assert update.path == PATH and update.if_updated_at == NOW - timedelta(minutes=1)
    assert update.fields["status"]["replicas"] == 3
    assert update.fields["metadata.resourceVersion"] == "1"
    [event] = [w for w in plan.writes if isinstance(w, RecordEvent)]
    assert event.reason == "SuccessfulCreate" and event.message.startswith("Created 2 pods: web-")


def test_burst_cap_limits_one_pass_and_asks_for_another() -> None:
    plan = plan_sync(rc(80), [], SETTINGS, NOW)
    assert len(plan.creating) == SETTINGS.burst and plan.more


def test_too_many_deletes_the_lowest_ranked_first() -> None:
    ready = {"ready": True, "phase": "Running", "ready_since": NOW - timedelta(hours=1), "node_name": "vm"}
    pods = [
        pod("old-ready", created=NOW - timedelta(hours=2), **ready),
        pod("pending", created=NOW - timedelta(hours=3)),
        pod("new-ready", created=NOW - timedelta(minutes=5), **ready),
    ]
    plan = plan_sync(rc(1), pods, SETTINGS, NOW)
    assert plan.deleting == ["pending", "new-ready"]
    assert [w.path.rsplit("/", 1)[1] for w in plan.writes if isinstance(w, Delete)] == ["pending", "new-ready"]


def test_pods_with_finalizers_are_marked() -> None:
    plan = plan_sync(rc(0), [pod("held", finalizers=["firecontrol.io/instance"])], SETTINGS, NOW)
    [mark] = [w for w in plan.writes if isinstance(w, Update) and w.path.endswith("/held")]
    # Leaving, it no longer pairs with its VM in the idle tick's fingerprint sum.
    assert mark.fields == {"metadata.deletionTimestamp": NOW, "status.vmFingerprint": 0} and mark.if_updated_at == NOW


def test_orphan_is_adopted_and_counted() -> None:
    plan = plan_sync(rc(1), [pod("orphan", owner=None)], SETTINGS, NOW)
    assert plan.adopting == ["orphan"] and plan.creating == []
    [adopt] = [w for w in plan.writes if isinstance(w, Update) and w.path.endswith("/orphan")]
    assert adopt.fields == {"metadata.ownerReferences": [MINE]}


def test_orphan_adopted_and_deleted_in_one_write() -> None:
    plan = plan_sync(rc(0), [pod("orphan", owner=None)], SETTINGS, NOW)
    [write] = on(plan.writes, "orphan")
    assert isinstance(write, Update)
    assert write.fields["metadata.ownerReferences"] == [MINE] and "metadata.deletionTimestamp" in write.fields


def test_pod_with_other_labels_is_released_and_replaced() -> None:
    plan = plan_sync(rc(1), [pod("moved", labels={"app": "debug"})], SETTINGS, NOW)
    assert plan.releasing == ["moved"] and len(plan.creating) == 1
    [release] = on(plan.writes, "moved")
    assert isinstance(release, Update) and release.fields == {"metadata.ownerReferences": []}


def test_pod_of_another_controller_is_not_touched() -> None:
    theirs = {**MINE, "uid": "someone-else"}
    plan = plan_sync(rc(1), [pod("theirs", owner=theirs)], SETTINGS, NOW)
    assert on(plan.writes, "theirs") == []
    assert len(plan.creating) == 1


def test_converged_controller_writes_nothing() -> None:
    first = plan_sync(rc(1), [pod("web-aaaaa")], SETTINGS, NOW)
    [update] = [w for w in first.writes if isinstance(w, Update)]
    data = rc_doc("web", 1)
    data["status"] = update.fields["status"]
    data["metadata"].update(uid=UID, generation=1, resourceVersion="1")
    again = plan_sync(Doc(PATH, data, NOW, CREATED), [pod("web-aaaaa")], SETTINGS, NOW)
    assert again.writes == []


def test_invalid_spec_writes_condition_and_event_only() -> None:
    plan = plan_sync(rc(1, spec={"replicas": "many"}), [pod("web-aaaaa")], SETTINGS, NOW)
    assert kinds(plan.writes) == ["Update", "RecordEvent"]
    status = plan.writes[0].fields["status"]  # type: ignore[union-attr]
    [condition] = status["conditions"]
    assert condition["reason"] == "InvalidSpec" and condition["message"].startswith("spec")
    assert status["replicas"] == 1  # still reports the pods it owns


def test_status_counts_ready_and_available() -> None:
    ready = {"ready": True, "phase": "Running"}
    pods = [
        pod("a", ready_since=NOW - timedelta(seconds=60), **ready),
        pod("b", ready_since=NOW - timedelta(seconds=5), **ready),
        pod("c"),
    ]
    plan = plan_sync(rc(3, spec={**rc_doc("web", 3)["spec"], "minReadySeconds": 30}), pods, SETTINGS, NOW)
    status = plan.writes[0].fields["status"]  # type: ignore[union-attr]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (3, 2, 1)


def test_filter_active_pods_excludes_finished_and_deleting() -> None:
    pods = [
        pod("pending"), pod("running", phase="Running"), pod("unknown", phase="Unknown"),
        pod("failed", phase="Failed"), pod("done", phase="Succeeded"), pod("going", being_deleted=True),
    ]
    assert [p.name for p in filter_active_pods(pods)] == ["pending", "running", "unknown"]


def test_deletion_rank_follows_kubernetes_active_pods_less() -> None:
    t = NOW
    pods = [
        pod("ready-long", node_name="n", phase="Running", ready=True, ready_since=t - timedelta(hours=5), created=t - timedelta(hours=6)),
        pod("ready-short", node_name="n", phase="Running", ready=True, ready_since=t - timedelta(minutes=1), created=t - timedelta(hours=6)),
        pod("running-not-ready", node_name="n", phase="Running"),
        pod("restarts", node_name="n", phase="Running", ready=True, ready_since=t - timedelta(hours=5), created=t - timedelta(hours=6), restarts=4),
        pod("unknown", node_name="n", phase="Unknown"),
        pod("pending-assigned", node_name="n"),
        pod("unassigned-old", created=t - timedelta(hours=9)),
        pod("unassigned-new", created=t - timedelta(hours=1)),
    ]
    assert [p.name for p in rank_for_deletion(pods)] == [
        "unassigned-new", "unassigned-old", "pending-assigned", "unknown",
        "running-not-ready", "ready-short", "restarts", "ready-long",
    ]


def _heavy_rc(replicas: int, env_vars: int) -> Doc:
    data = rc_doc("web", replicas)
    data["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": f"V{i}", "value": "x" * 30_000} for i in range(env_vars)
    ]
    return Doc(PATH, data, NOW, CREATED)


def test_large_pods_are_created_within_the_commit_budget() -> None:
    plan = plan_sync(_heavy_rc(40, 10), [], SETTINGS, NOW)  # ~300 kB a pod
    assert 1 <= len(plan.creating) <= 3 * 1_048_576 // 300_000 and plan.more


def test_template_too_large_for_a_pod_document_is_invalid() -> None:
    heavy = _heavy_rc(1, 0)
    heavy.data["spec"]["template"]["metadata"]["annotations"] = {f"a{i}": "x" * 30_000 for i in range(40)}
    plan = plan_sync(heavy, [], SETTINGS, NOW)  # ~1.2 MB a pod, in annotations (not VM metadata)
    assert plan.creating == [] and len(plan.errors) == 1
    assert plan.errors[0].startswith("spec.template: a pod made from it would take")


def test_template_over_compute_metadata_limit_is_invalid() -> None:
    plan = plan_sync(_heavy_rc(1, 20), [], SETTINGS, NOW)  # 600 kB of env: over 512 KiB of VM metadata
    assert plan.creating == [] and len(plan.errors) == 1
    assert plan.errors[0].startswith("spec.template.spec.containers: the pod's names, images")
    assert "524288 (512 KiB)" in plan.errors[0]


def test_adoptions_beyond_one_commit_wait_for_the_next_pass() -> None:
    """600 matching orphans: one commit may hold 500 writes, so some are adopted now and
    the pass asks for another; nothing is created while they count as the replicas."""
    settings = Settings(project="unit", slow_start=False, max_replicas=1000)
    orphans = [pod(f"o{i:03d}", owner=None, phase="Running") for i in range(600)]
    plan = plan_sync(rc(600), orphans, settings, NOW)
    assert len(plan.writes) <= 500 and plan.more
    assert len(plan.adopting) == 450 and plan.creating == [] and plan.deleting == []
    adopted = {p.name for p in orphans} - set(plan.adopting)
    rest = [p if p.name in adopted else pod(p.name, phase="Running") for p in orphans]
    follow = plan_sync(rc(600), rest, settings, NOW)
    assert sorted(follow.adopting) == sorted(adopted) and not follow.more


def test_old_failed_pods_beyond_one_commit_wait_for_the_next_pass() -> None:
    failed = [pod(f"f{i:03d}", phase="Failed", created=NOW - timedelta(minutes=i)) for i in range(600)]
    plan = plan_sync(rc(0), failed, SETTINGS, NOW)
    assert len(plan.writes) <= 500 and plan.more
    assert len(plan.deleting) == 450 and "f000" not in plan.deleting  # the newest are kept


def test_new_pods_carry_the_vm_finalizer_so_the_pod_runtime_inserts_at_once() -> None:
    plan = plan_sync(rc(2), [], SETTINGS, NOW)
    creates = [w for w in plan.writes if isinstance(w, Create)]
    assert creates and all(c.data["metadata"]["finalizers"] == ["firecontrol.io/instance"] for c in creates)


def test_refused_vms_leave_one_pod_asking_and_no_new_creates() -> None:
    """Compute refused three pods' VMs (a quota): the oldest goes on asking with its
    back-off, the other two go, and nothing new is made while one is refused."""
    slow = Settings(project="unit", slow_start=True)
    refused = [pod(f"web-r{i}", created=NOW - timedelta(seconds=10 - i), unschedulable="quota exceeded",
                   unschedulable_reason="FailedCreate") for i in range(3)]
    placed = [pod(f"web-p{i}", node_name=f"vm-{i}", phase="Running", ready=True) for i in range(2)]
    plan = plan_sync(rc(5), refused + placed, slow, NOW)
    assert plan.creating == []
    assert sorted(plan.deleting) == ["web-r1", "web-r2"]
    assert not on(plan.writes, "web-r0")
    short = plan_sync(rc(8), refused + placed, slow, NOW)  # short of pods: still none made
    assert short.creating == [] and sorted(short.deleting) == ["web-r1", "web-r2"]
