"""``rollout``: status (kubectl's DeploymentStatusViewer messages, written status documents
standing in for the controller), history, undo, restart, pause and resume."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.api.controller import spec_hash
from functions.cli.errors import CliError
from functions.cli.rollout import status_message
from functions.store import Store
from tests.cli.support import FIXTURES, Cli, data
from tests.cli.test_workloads import DEP, owned_rs

NAME = "frontend"


def write_status(store: Store, **status: Any) -> None:
    """The status the Deployment controller would write, for the spec as it is now."""
    doc = data(store, DEP) or {}
    store.client.document(DEP).update({
        "metadata.generation": 2,
        "status": {"observedGeneration": 2, "specHash": spec_hash(doc["spec"]), **status},
    })


def doc(desired: int = 3, generation: int = 2, observed: int = 2, **status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "spec": {"replicas": desired},
            "status": {"observedGeneration": observed, **status}}


@pytest.mark.parametrize(("data_", "message", "done"), [
    (doc(generation=3), "Waiting for deployment spec update to be observed...", False),
    (doc(updatedReplicas=1, replicas=3),
     'Waiting for deployment "frontend" rollout to finish: 1 out of 3 new replicas have been updated...', False),
    (doc(updatedReplicas=3, replicas=4),
     'Waiting for deployment "frontend" rollout to finish: 1 old replicas are pending termination...', False),
    (doc(updatedReplicas=3, replicas=3, availableReplicas=2),
     'Waiting for deployment "frontend" rollout to finish: 2 of 3 updated replicas are available...', False),
    (doc(updatedReplicas=3, replicas=3, availableReplicas=3), 'deployment "frontend" successfully rolled out', True),
])
def test_status_messages(data_: dict[str, Any], message: str, done: bool) -> None:
    assert status_message(NAME, data_) == (message, done)


@pytest.mark.parametrize(("desired", "updated"), [("3", 1), (3.0, "1"), (" 3", 1.0)])
def test_status_reads_numbers_leniently(desired: Any, updated: Any) -> None:
    """Any Firestore client may store "3" or 3.0: read as 3, not a TypeError."""
    data_ = {**doc(updatedReplicas=updated, replicas=3.0), "spec": {"replicas": desired}}
    message = 'Waiting for deployment "frontend" rollout to finish: 1 out of 3 new replicas have been updated...'
    assert status_message(NAME, data_) == (message, False)


def test_status_of_a_replica_count_that_is_no_number() -> None:
    data_ = {**doc(updatedReplicas=1), "spec": {"replicas": 3.5}}
    with pytest.raises(CliError, match=r'deployment "frontend" is invalid: spec.replicas must be a whole number, not 3.5'):
        status_message(NAME, data_)


def test_status_of_an_invalid_deployment_is_an_error() -> None:
    """The pass records the spec as observed and rolls nothing: not "successfully rolled out"."""
    invalid = {"type": "ReplicaFailure", "status": "True", "reason": "InvalidSpec",
               "message": "spec.selector: Required value"}
    data_ = doc(desired=0, conditions=[invalid])
    with pytest.raises(CliError) as raised:
        status_message(NAME, data_)
    assert raised.value.lines == ['error: deployment "frontend" is invalid: spec.selector: Required value']


def test_status_of_a_stored_invalid_deployment(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "workloads.yaml")).code == 0
    store.client.document(DEP).update({"spec.replicas": "three"})
    write_status(store, conditions=[{"type": "ReplicaFailure", "status": "True", "reason": "InvalidSpec",
                                     "message": "spec.replicas: Input should be a valid integer"}])
    result = cli("rollout", "status", "deployment/frontend", "--timeout", "5s")
    assert result.code == 1 and "Traceback" not in result.err
    assert result.err.strip() == ('error: deployment "frontend" is invalid: '
                                  "spec.replicas: Input should be a valid integer")


def test_status_of_a_stored_deployment(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "workloads.yaml")).code == 0
    # Written, not yet seen by the controller: the spec hash says so even at equal generations.
    store.client.document(DEP).update({"status": {"observedGeneration": 0, "specHash": "stale"}})
    once = cli("rollout", "status", "deployment/frontend", "--watch=false")
    assert (once.code, once.out) == (0, "Waiting for deployment spec update to be observed...\n")

    write_status(store, replicas=3, updatedReplicas=3, availableReplicas=1)

    def progress() -> None:
        time.sleep(0.6)
        write_status(store, replicas=3, updatedReplicas=3, availableReplicas=3)

    thread = threading.Thread(target=progress)
    thread.start()
    watched = cli("rollout", "status", "deploy/frontend", "--timeout", "20s")
    thread.join()
    assert watched.code == 0, watched.err
    assert watched.out == ('Waiting for deployment "frontend" rollout to finish: 1 of 3 updated replicas are available...\n'
                           'deployment "frontend" successfully rolled out\n')

    write_status(store, replicas=3, updatedReplicas=1, availableReplicas=3)
    started = time.monotonic()
    timed_out = cli("rollout", "status", "deploy/frontend", "--timeout", "0.5s")
    assert timed_out.code == 1 and "error: timed out waiting for the condition" in timed_out.err
    assert time.monotonic() - started < 5

    write_status(store, replicas=3, updatedReplicas=1, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}])
    failed = cli("rollout", "status", "deploy/frontend")
    assert failed.code == 1 and 'error: deployment "frontend" exceeded its progress deadline' in failed.err
    assert cli("rollout", "status", "rc/web").code == 2
    missing = cli("rollout", "status", "deploy/nope")
    assert missing.code == 1 and 'deployments.apps "nope" not found' in missing.err


def history_setup(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "workloads.yaml")).code == 0
    owned_rs(store, "frontend-aaaa1", 1, "gcr.io/google-samples/gb-frontend:v3", 0)
    owned_rs(store, "frontend-bbbb2", 2, "gcr.io/google-samples/gb-frontend:v4", 3)
    store.client.document("namespaces/default/replicaSets/frontend-aaaa1").update(
        {"metadata.annotations": {"deployment.kubernetes.io/revision": "1", "kubernetes.io/change-cause": "first release"}})


def test_history(cli: Cli, store: Store) -> None:
    history_setup(cli, store)
    result = cli("rollout", "history", "deployment/frontend")
    assert result.code == 0, result.err
    assert result.out == ("deployment.apps/frontend\nREVISION  CHANGE-CAUSE\n1         first release\n"
                          "2         <none>\n")
    one = cli("rollout", "history", "deploy/frontend", "--revision", "1")
    assert one.out.startswith("deployment.apps/frontend with revision #1\nPod Template:\n")
    assert "gb-frontend:v3" in one.out and "kubernetes.io/change-cause=first release" in one.out
    assert cli("rollout", "history", "deploy/frontend", "--revision", "7").err.strip() == \
        "error: unable to find the specified revision"


def test_undo(cli: Cli, store: Store) -> None:
    history_setup(cli, store)
    store.client.document(DEP).update({"metadata.annotations": {"deployment.kubernetes.io/revision": "2", "team": "web"}})
    back = cli("rollout", "undo", "deployment/frontend")
    assert (back.code, back.out) == (0, "deployment.apps/frontend rolled back\n"), back.err
    dep = data(store, DEP) or {}
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "gcr.io/google-samples/gb-frontend:v3"
    assert "pod-template-hash" not in dep["spec"]["template"]["metadata"]["labels"]
    assert dep["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "2", "team": "web", "kubernetes.io/change-cause": "first release"}
    again = cli("rollout", "undo", "deploy/frontend", "--to-revision", "1")
    assert again.out == "deployment.apps/frontend skipped rollback (current template already matches revision 1)\n"
    forward = cli("rollout", "undo", "deploy/frontend", "--to-revision=2")
    assert forward.out == "deployment.apps/frontend rolled back\n"
    assert "kubernetes.io/change-cause" not in (data(store, DEP) or {})["metadata"]["annotations"]
    nowhere = cli("rollout", "undo", "deploy/frontend", "--to-revision", "9")
    assert nowhere.code == 1 and "error: unable to find specified revision 9 in history" in nowhere.err


def test_undo_without_history(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(FIXTURES / "workloads.yaml")).code == 0
    result = cli("rollout", "undo", "deploy/frontend")
    assert result.code == 1 and 'error: no rollout history found for deployment "frontend"' in result.err


def test_pause_resume_restart(cli: Cli, store: Store) -> None:
    history_setup(cli, store)
    assert cli("rollout", "pause", "deployment/frontend").out == "deployment.apps/frontend paused\n"
    assert (data(store, DEP) or {})["spec"]["paused"] is True
    again = cli("rollout", "pause", "deploy/frontend")
    assert again.code == 1 and 'error: deployments.apps "frontend" is already paused' in again.err
    refused = cli("rollout", "restart", "deploy/frontend")
    assert refused.code == 1 and "can't restart paused deployment (run rollout resume first)" in refused.err
    assert "you cannot rollback a paused deployment" in cli("rollout", "undo", "deploy/frontend").err

    assert cli("rollout", "resume", "deploy/frontend").out == "deployment.apps/frontend resumed\n"
    assert (data(store, DEP) or {})["spec"]["paused"] is False
    assert 'error: deployments.apps "frontend" is not paused' in cli("rollout", "resume", "deploy/frontend").err

    before = datetime.now(UTC).replace(microsecond=0)
    assert cli("rollout", "restart", "deploy/frontend").out == "deployment.apps/frontend restarted\n"
    stamp = (data(store, DEP) or {})["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) >= before and stamp.endswith("Z")
