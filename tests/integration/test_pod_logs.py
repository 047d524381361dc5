"""A finished pod keeps its output when its VM is released (``functions/controllers/pod_logs.py``):
the real pod runtime against the Firestore emulator and the Compute emulator, whose
simulated agent writes ``fc-log`` lines to serial port 2; and the pure choice of lines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from emulator.compute.faults import FaultRule
from emulator.compute.model import Key
from functions.cloudprovider import NotFoundError
from functions.controllers.pod_logs import LIMIT, keep, pod_logs_path
from functions.controllers.pods import FINALIZER, sync_pod
from functions.heartbeats import heartbeat_path
from functions.objects import doc_uid
from functions.runtime import Runtime
from functions.store import PODS, doc_path
from tests.cli.test_logs import ZONE, emit, make_pod
from tests.integration.agent_support import agent_runtime, pod_doc_of


def _finish(rt: Runtime, name: str = "web-1", phase: str = "Failed") -> None:
    """The pod ends (its agent reported the container exited, or the node was lost)."""
    rt.store.client.document(doc_path("default", PODS, name)).update({"status.phase": phase})


def _sync(rt: Runtime, name: str = "web-1") -> str:
    return sync_pod(rt.store, rt.provider, rt.settings, "default", name, rt.clock).action


def _vm_gone(rt: Runtime, vm: str) -> bool:
    try:
        rt.provider.get_instance(vm, ZONE)
    except NotFoundError:
        return True
    return False


def _saved(rt: Runtime, name: str = "web-1") -> dict[str, Any] | None:
    found = rt.store.get(pod_logs_path("default", name))
    return None if found is None else found.data


def test_a_failed_pod_s_output_is_kept_as_its_vm_is_released(crt: Runtime, compute: ComputeEmulator,
                                                             project: str) -> None:
    vm = make_pod(crt, containers=("app", "sidecar"))
    rt = agent_runtime(crt)
    emit(compute, project, vm, "app", "starting\npanic: boom ✗")
    emit(compute, project, vm, "sidecar", "side")
    uid = doc_uid(pod_doc_of(rt, "web-1"))
    _finish(rt)
    assert _sync(rt) == "deleted"
    assert _vm_gone(rt, vm)
    pod = pod_doc_of(rt, "web-1")
    assert FINALIZER not in pod.data["metadata"].get("finalizers", [])
    assert rt.store.get(heartbeat_path("default", "web-1")) is None
    saved = _saved(rt)
    assert saved is not None
    assert saved["vm"] == vm and saved["podUid"] == uid and saved["truncated"] is False
    assert abs((saved["savedAt"] - datetime.now(UTC)).total_seconds()) < 60
    lines = saved["text"].splitlines()
    assert all(line.startswith("fc-log ") for line in lines) and saved["text"].endswith("\n")
    assert lines[-3:] == ["fc-log app starting", "fc-log app panic: boom ✗", "fc-log sidecar side"]
    assert _sync(rt) == "nothing"  # released once: nothing more to do, nothing read again


def test_a_succeeded_pod_keeps_its_output_too(crt: Runtime, compute: ComputeEmulator, project: str) -> None:
    vm = make_pod(crt)
    rt = agent_runtime(crt)
    emit(compute, project, vm, "web", "done")
    _finish(rt, phase="Succeeded")
    assert _sync(rt) == "deleted" and _vm_gone(rt, vm)
    saved = _saved(rt)
    assert saved is not None and saved["text"].endswith("fc-log web done\n")


def test_a_stopped_vm_s_output_is_kept(crt: Runtime, compute: ComputeEmulator, project: str) -> None:
    """The VM stopped under the pod (the pod runtime fails it, InstanceStopped): its port
    is still there to read before the VM is deleted."""
    vm = make_pod(crt)
    rt = agent_runtime(crt)
    emit(compute, project, vm, "web", "last words")
    compute.state.stop_instance(Key(project, f"zones/{ZONE}", "instances", vm))
    assert _sync(rt) == "observed"
    assert pod_doc_of(rt, "web-1").data["status"]["reason"] == "InstanceStopped"
    assert _vm_gone(rt, vm)
    saved = _saved(rt)
    assert saved is not None and saved["text"].endswith("fc-log web last words\n")


def test_a_serial_port_that_cannot_be_read_does_not_hold_the_release(crt: Runtime, compute: ComputeEmulator,
                                                                     project: str) -> None:
    vm = make_pod(crt)
    rt = agent_runtime(crt)
    emit(compute, project, vm, "web", "lost")
    rule = FaultRule(path="serialPort", method="GET", status=503)
    compute.faults.add(rule)
    _finish(rt)
    assert _sync(rt) == "deleted"
    assert rule.fired >= 1
    assert _vm_gone(rt, vm)
    assert FINALIZER not in pod_doc_of(rt, "web-1").data["metadata"].get("finalizers", [])
    assert _saved(rt) is None


def test_a_vm_deleted_behind_the_runtime_s_back_is_released_without_output(crt: Runtime, compute: ComputeEmulator,
                                                                          project: str) -> None:
    vm = make_pod(crt)
    rt = agent_runtime(crt)
    compute.state.remove_now(Key(project, f"zones/{ZONE}", "instances", vm))
    _finish(rt)
    assert _sync(rt) == "deleted"
    assert FINALIZER not in pod_doc_of(rt, "web-1").data["metadata"].get("finalizers", [])
    assert _saved(rt) is None


def test_an_earlier_pod_s_kept_output_is_replaced(crt: Runtime, compute: ComputeEmulator, project: str) -> None:
    path = pod_logs_path("default", "web-1")
    crt.store.put(path, {"text": "fc-log web old pod\n", "vm": "x", "podUid": "old", "truncated": False})
    vm = make_pod(crt)
    rt = agent_runtime(crt)
    emit(compute, project, vm, "web", "new pod")
    _finish(rt)
    assert _sync(rt) == "deleted"
    saved = _saved(rt)
    assert saved is not None and saved["podUid"] == doc_uid(pod_doc_of(rt, "web-1"))
    assert "old pod" not in saved["text"] and saved["text"].endswith("fc-log web new pod\n")


class WriteDuring:
    """The real cloud provider; while the VM is being deleted, someone (the agent's last
    report) writes the pod, so the release's guarded commit is stale and the pass runs again."""

    def __init__(self, real: Any, rt: Runtime) -> None:
        self.real, self.rt = real, rt

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def ensure_instance_deleted(self, *args: Any, **kwargs: Any) -> None:
        self.real.ensure_instance_deleted(*args, **kwargs)
        self.rt.store.client.document(doc_path("default", PODS, "web-1")).update({"status.message": "late report"})


def test_output_read_before_a_lost_race_is_kept_when_the_pass_runs_again(crt: Runtime, compute: ComputeEmulator,
                                                                          project: str) -> None:
    vm = make_pod(crt)
    rt = agent_runtime(crt)
    emit(compute, project, vm, "web", "read once")
    _finish(rt)
    racing = WriteDuring(rt.provider, rt)
    assert sync_pod(rt.store, racing, rt.settings, "default", "web-1", rt.clock).action == "deleted"  # type: ignore[arg-type]
    assert pod_doc_of(rt, "web-1").data["status"]["message"] == "late report"  # the commit came after it
    assert _vm_gone(rt, vm)
    saved = _saved(rt)
    assert saved is not None and saved["text"].endswith("fc-log web read once\n")


def test_deleting_the_pod_deletes_its_kept_output(crt: Runtime, compute: ComputeEmulator, project: str) -> None:
    vm = make_pod(crt)
    rt = agent_runtime(crt)
    emit(compute, project, vm, "web", "bye")
    _finish(rt)
    _sync(rt)
    assert _saved(rt) is not None
    path = doc_path("default", PODS, "web-1")
    rt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    assert _sync(rt) == "deleted"
    assert rt.store.get(path) is None
    assert _saved(rt) is None


def test_deleting_a_pod_that_kept_nothing_is_fine(crt: Runtime) -> None:
    """The kept output's Delete rides in the pod's own: a missing document is no failure."""
    from tests.helpers import pod_doc

    path = doc_path("default", PODS, "early")
    crt.store.client.document(path).set({**pod_doc("early", {"app": "web"}),
                                         "metadata": {"name": "early", "deletionTimestamp": datetime.now(UTC)}})
    assert _sync(crt, "early") == "deleted"
    assert crt.store.get(path) is None and _saved(crt, "early") is None


def test_a_pod_without_an_agent_keeps_nothing(crt: Runtime) -> None:
    """A VM made before the agent writes nothing to port 2: no read, no document."""
    from tests.helpers import pod_doc

    crt.store.client.document(doc_path("default", PODS, "web-1")).set(pod_doc("web-1", {"app": "web"}))
    for _ in range(2):  # the finalizer, then the VM (no status URL: no agent)
        _sync(crt)
    vm = pod_doc_of(crt, "web-1").data["spec"]["nodeName"]
    assert "vmAgent" not in pod_doc_of(crt, "web-1").data["status"]
    _finish(crt)
    assert _sync(crt) == "deleted" and _vm_gone(crt, vm)
    assert _saved(crt) is None


def test_forget_deletes_only_the_named_pod_s_kept_output(crt: Runtime) -> None:
    """For a pod document deleted without the pod runtime (no finalizer left): its
    deletion's handler forgets the output of that pod, never a newer one's."""
    from functions.controllers.pod_logs import forget

    crt.store.put(pod_logs_path("default", "web-1"), {"text": "", "vm": "x", "podUid": "newer", "truncated": False})
    assert forget(crt.store, "default", "web-1", "older") is False
    assert _saved(crt) is not None
    assert forget(crt.store, "default", "web-1", "newer") is True
    assert _saved(crt) is None
    assert forget(crt.store, "default", "web-1", "newer") is False


# -- the pure part -------------------------------------------------------------------------


def test_only_container_lines_are_kept_whole() -> None:
    kept = keep("boot noise\nfc-log web a\r\nfc-logweb no\nfc-log side b\nfc-log web half")
    assert kept.text == "fc-log web a\r\nfc-log side b\nfc-log web half\n"
    assert kept.truncated is False
    assert keep("") == keep("no container here\n")
    assert keep("").text == "" and keep("").truncated is False


def test_the_newest_lines_are_kept_up_to_the_limit_at_a_line_boundary() -> None:
    lines = [f"fc-log web line {i} ✓" for i in range(10)]
    raw = "".join(line + "\n" for line in lines)
    size = len(f"{lines[0]}\n".encode())  # each line: the same size in UTF-8
    kept = keep(raw, limit=3 * size + 1)
    assert kept.text == "".join(line + "\n" for line in lines[-3:]) and kept.truncated is True
    assert keep(raw, limit=len(raw.encode())) == keep(raw)
    assert keep(raw).truncated is False
    many = "".join(f"fc-log web {'é' * 100} {i}\n" for i in range(2000))  # over 400 KiB
    big = keep(many)
    assert big.truncated is True and big.text.endswith(" 1999\n")
    assert LIMIT - 300 < len(big.text.encode()) <= LIMIT
    assert big.text.startswith("fc-log web é")  # a whole line first, no half character


def test_one_line_over_the_limit_keeps_its_start_without_half_a_character() -> None:
    kept = keep("fc-log web small\nfc-log web " + "€" * 100 + "\n", limit=40)
    assert kept.truncated is True
    assert kept.text.startswith("fc-log web €") and kept.text.endswith("\n")
    assert len(kept.text.encode()) <= 40
    kept.text.encode().decode()  # valid UTF-8


def test_a_clipped_port_drops_its_first_line_which_may_be_a_fragment() -> None:
    kept = keep("fc-log evil forged\nfc-log web real\n", clipped=True)
    assert kept.text == "fc-log web real\n" and kept.truncated is True
    assert keep("fc-log web no newline at all", clipped=True).text == ""


@pytest.mark.parametrize("raw", ["fc-log web \ud800 lone\n", "fc-log web \x00 nul\n"])
def test_text_firestore_could_not_store_is_made_storable(raw: str) -> None:
    kept = keep(raw)
    kept.text.encode("utf-8")  # no lone surrogates left
    assert kept.text.startswith("fc-log web ") and kept.text.endswith("\n")


def test_a_finished_pod_deleted_without_the_runtime_loses_its_kept_output(crt: Runtime, compute: ComputeEmulator,
                                                                        project: str) -> None:
    """Released, a finished pod has no finalizer: a controller or the CLI deletes its
    document outright. The delete event takes its kept output with it (only its own)."""
    from functions.events import DocumentChange, StoredDocument
    from functions.handlers import on_pod_change

    vm = make_pod(crt)
    rt = agent_runtime(crt)
    emit(compute, project, vm, "web", "last words")
    _finish(rt)
    assert _sync(rt) == "deleted" and _saved(rt) is not None
    gone = pod_doc_of(rt, "web-1")
    rt.store.client.document(gone.path).delete()
    change = DocumentChange("deleted", gone.path, StoredDocument(gone.data, gone.create_time, gone.update_time), None)
    on_pod_change(change, rt)
    assert _saved(rt) is None
