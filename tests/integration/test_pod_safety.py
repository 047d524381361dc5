"""Crashes between the steps of a pod's life, and hostile strings on their way to the VM."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from functions.cloudprovider import TemporaryError
from functions.controllers.pods import FINALIZER, sync_pod
from functions.controllers.resync import resync_all
from functions.runtime import Runtime
from functions.store import PODS, doc_path
from functions.vm_spec import instance_name
from tests.agent.support import MetadataServer, start_agent, wait_for
from tests.helpers import CrashAfter, CrashBefore, pod_doc, pods

AGENT = Path(__file__).resolve().parents[2] / "functions" / "vm" / "agent.sh"


def vms(compute: ComputeEmulator) -> list[str]:
    return sorted(i["name"] for i in compute.state.dump()["resources"]["instances"])


def make_pod(rt: Runtime, name: str = "solo") -> str:
    path = doc_path("default", PODS, name)
    rt.store.client.document(path).set(pod_doc(name, {"app": "solo"}))
    return path


def run(rt: Runtime, name: str = "solo") -> Any:
    return sync_pod(rt.store, rt.provider, rt.settings, "default", name, rt.clock)


@pytest.mark.parametrize("crash", ["before-insert", "after-insert"])
def test_crash_during_creation_then_resync(crt: Runtime, compute: ComputeEmulator, crash: str) -> None:
    make_pod(crt)
    wrapper = CrashBefore if crash == "before-insert" else CrashAfter
    broken = replace(crt, cloud=wrapper(crt.provider, "ensure_instance"))  # type: ignore[arg-type]
    with pytest.raises(TemporaryError, match="killed"):
        run(broken)
    [pod] = pods(crt.store)
    assert pod.finalizers == [FINALIZER] and pod.node_name is None  # the finalizer came first
    resync_all(crt)
    [pod] = pods(crt.store)
    vm = instance_name(crt.settings.cluster, "default", "solo")
    assert pod.node_name == vm and pod.phase == "Running"
    assert vms(compute) == [vm]  # one VM: nothing leaked, nothing missing


def test_crash_during_deletion_then_resync(crt: Runtime, compute: ComputeEmulator) -> None:
    path = make_pod(crt)
    run(crt)
    assert len(vms(compute)) == 1
    crt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    broken = replace(crt, cloud=CrashAfter(crt.provider, "ensure_instance_deleted"))  # type: ignore[arg-type]
    with pytest.raises(TemporaryError, match="killed"):
        run(broken)
    assert vms(compute) == [] and pods(crt.store)[0].finalizers == [FINALIZER]
    resync_all(crt)
    assert pods(crt.store) == [] and vms(compute) == []


def test_crash_while_releasing_a_dead_vm_then_resync(crt: Runtime, compute: ComputeEmulator) -> None:
    """The VM is stopped; the pass that marks the pod Failed deletes the VM and dies
    before it can drop the finalizer. Resync finishes the job: no VM, no finalizer."""
    from emulator.compute.state import Key

    make_pod(crt)
    run(crt)
    [vm] = vms(compute)
    compute.state.stop_instance(Key(crt.settings.project, "zones/us-central1-a", "instances", vm))
    broken = replace(crt, cloud=CrashAfter(crt.provider, "ensure_instance_deleted"))  # type: ignore[arg-type]
    with pytest.raises(TemporaryError, match="killed"):
        run(broken)
    assert vms(compute) == [] and pods(crt.store)[0].finalizers == [FINALIZER]
    summary = resync_all(crt)
    assert summary["errors"] == [] and vms(compute) == []
    [pod] = pods(crt.store)
    assert pod.phase == "Failed" and pod.finalizers == []


def test_vm_of_a_vanished_pod_is_collected(crt: Runtime, compute: ComputeEmulator) -> None:
    path = make_pod(crt)
    run(crt)
    crt.store.client.document(path).delete()  # deleted outright: the finalizer is bypassed
    compute.state.seed_instances(crt.settings.project, "us-central1-a", ["not-ours"], {})
    summary = resync_all(crt)
    assert summary["vmsDeleted"] == 1
    assert vms(compute) == ["not-ours"]  # never anything this cluster did not create


HOSTILE = [
    "$(touch {canary})",
    "`touch {canary}`",
    "; touch {canary} #",
    "'\"\\ && touch {canary} | cat",
    "line one\nline two\n\n",
    "--privileged",
    "${{HOME}} * ? [a] ~",
    "ünïcödé ☃ \t tab",
    "- yaml: [injection]\n  key: {{value}}",
]


@pytest.fixture
def metadata_server() -> Iterator[MetadataServer]:
    """The metadata server the agent reads, on a real local socket (tests/agent/support.py)."""
    with MetadataServer().serving() as server:
        yield server


IMAGE = "busybox:1.36"


def test_hostile_strings_reach_the_vm_verbatim_and_inert(
    crt: Runtime, compute: ComputeEmulator, metadata_server: MetadataServer, tmp_path: Path
) -> None:
    canary = tmp_path / "pwned"
    words = [w.format(canary=canary) for w in HOSTILE]
    doc = pod_doc("evil", {"app": "evil"})
    doc["spec"]["containers"] = [{
        # The image must be a docker reference (admission refuses anything else); every
        # hostile string rides in command, args and env, each its own metadata value.
        "name": "app", "image": IMAGE,
        "command": words[0:3], "args": words[3:],
        "env": [{"name": f"V{i}", "value": w} for i, w in enumerate(words)],
    }]
    crt.store.client.document(doc_path("default", PODS, "evil")).set(doc)
    sync_pod(crt.store, crt.provider, crt.settings, "default", "evil", crt.clock)

    [vm] = compute.state.dump()["resources"]["instances"]
    items = {i["key"]: i["value"] for i in vm["metadata"]["items"]}
    assert items["fc-c0-image"] == IMAGE
    assert [items[f"fc-c0-command{j}"] for j in range(3)] == words[0:3]
    assert [items[f"fc-c0-arg{j}"] for j in range(len(words) - 3)] == words[3:]
    assert [items[f"fc-c0-env{j}-value"] for j in range(len(words))] == words
    assert all(w not in items["user-data"] for w in words)  # the cloud-config carries no user input

    # Run the real agent against those values with a stand-in docker that records argv.
    metadata_server.items = items
    agent = start_agent(tmp_path, metadata_server)
    try:
        [argv] = wait_for(lambda: agent.runs("app"), what="the agent's docker run")
    finally:
        agent.stop()
    expected = ["run", "--detach", "--network=host", "--name", "app"]
    expected += [a for i, w in enumerate(words) for a in ("--env", f"V{i}={w}")]
    expected += ["--entrypoint", words[0], "--", IMAGE, *words[1:3], *words[3:]]
    assert argv == expected  # every word arrived as exactly one argument
    assert not canary.exists()


def test_agent_passes_shellcheck() -> None:
    import shutil

    shellcheck = shutil.which("shellcheck") or str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "shellcheck")
    done = subprocess.run([shellcheck, str(AGENT)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout
