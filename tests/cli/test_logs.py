"""``logs POD [-c C] [-f] [--tail N]`` against the real Firestore emulator and the Compute
emulator: the pod's VM is made by the real pod runtime (with an agent), its simulated
agent writes ``fc-log`` lines to serial port 2 (the emulator's admin ``output`` action),
and the CLI reads them back through ``instances.getSerialPortOutput``."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from functions.cli.errors import CliError
from functions.cli.logs import Lines, choose_container, printable
from functions.cloudprovider import NotFoundError
from functions.controllers.pods import sync_pod
from functions.runtime import Runtime
from functions.store import PODS, doc_path
from tests.cli.support import Cli
from tests.helpers import pod_doc, wait_for
from tests.integration.agent_support import agent_runtime, pod_doc_of

ROOT = Path(__file__).resolve().parents[2]
ZONE = "us-central1-a"


@pytest.fixture
def cloud_cli(cli: Cli, crt: Runtime, compute: ComputeEmulator, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI pointed at this test's installation: its Firestore, the Compute emulator, cluster "fc"."""
    monkeypatch.setenv("COMPUTE_API_ENDPOINT", compute.url)
    monkeypatch.setenv("FIRECONTROL_CLUSTER", crt.settings.cluster)
    return cli


def make_pod(crt: Runtime, name: str = "web-1", containers: tuple[str, ...] = ("web",)) -> str:
    """A pod whose VM the pod runtime made, running an agent; the VM's name."""
    rt = agent_runtime(crt)
    doc = pod_doc(name, {"app": "web"})
    doc["spec"]["containers"] = [{"name": c, "image": "nginx:1.27"} for c in containers]
    rt.store.client.document(doc_path("default", PODS, name)).set(doc)
    for _ in range(2):  # the finalizer, then the VM
        sync_pod(rt.store, rt.provider, rt.settings, "default", name, rt.clock)
    vm: str = pod_doc_of(rt, name).data["spec"]["nodeName"]
    wait_for(lambda: rt.provider.get_instance(vm).status == "RUNNING", timeout=10)
    # Its agent has started the containers (and written its own "started" lines).
    wait_for(lambda: _running(agent_view(crt.settings.compute_api_endpoint or "", crt.settings.project, vm)),
             timeout=15)
    return vm


def agent_view(compute_url: str, project: str, vm: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{compute_url}/admin/agents/{project}/{ZONE}/{vm}", timeout=5) as response:
            view: dict[str, Any] = json.load(response)
            return view
    except urllib.error.HTTPError:
        return None


def _running(view: dict[str, Any] | None) -> bool:
    return view is not None and bool(view["containers"]) and all(c["state"] == "running" for c in view["containers"])


def _post(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def emit(compute: ComputeEmulator, project: str, vm: str, container: str, text: str) -> None:
    """The container prints ``text``: its agent writes ``fc-log`` lines to serial port 2."""
    url = f"{compute.url}/admin/agents/{project}/{ZONE}/{vm}"
    body = {"container": container, "action": "output", "text": text}
    wait_for(lambda: _post(url, body) == 200, timeout=10)  # 404 until the VM's agent has started


def test_prints_the_container_s_output(cloud_cli: Cli, crt: Runtime, compute: ComputeEmulator, project: str) -> None:
    vm = make_pod(crt)
    emit(compute, project, vm, "web", "one\ntwo\n\tindented\nthree")
    result = cloud_cli("logs", "web-1")
    assert result.code == 0, result.err
    assert result.out.endswith("one\ntwo\n\tindented\nthree\n"), result.out
    assert "fc-log" not in result.out
    assert cloud_cli("logs", "web-1", "-c", "web").out == result.out
    assert cloud_cli("logs", "web-1", "--tail", "2").out == "\tindented\nthree\n"
    assert cloud_cli("logs", "web-1", "--tail", "0").out == ""
    assert cloud_cli("logs", "web-1", "--tail", "-1").out == result.out


def test_output_cannot_drive_the_terminal(cloud_cli: Cli, crt: Runtime, compute: ComputeEmulator,
                                          project: str) -> None:
    vm = make_pod(crt)
    emit(compute, project, vm, "web", "\x1b[2J\x1b]0;owned\x07 red \u202eevil")
    out = cloud_cli("logs", "web-1").out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert out.endswith("\\x1b[2J\\x1b]0;owned\\x07 red \\u202eevil\n"), out


def test_a_pod_with_several_containers_needs_c(cloud_cli: Cli, crt: Runtime, compute: ComputeEmulator,
                                               project: str) -> None:
    vm = make_pod(crt, containers=("app", "sidecar"))
    emit(compute, project, vm, "app", "from app")
    emit(compute, project, vm, "sidecar", "from sidecar")
    emit(compute, project, vm, "app", "app again")
    result = cloud_cli("logs", "web-1")
    assert result.code == 1 and result.out == ""
    assert "a container name must be specified for pod web-1, choose one of: [app sidecar]" in result.err
    app = cloud_cli("logs", "web-1", "-c", "app").out
    assert app.endswith("from app\napp again\n") and "sidecar" not in app
    assert cloud_cli("logs", "web-1", "-c", "sidecar").out.endswith("from sidecar\n")
    wrong = cloud_cli("logs", "web-1", "-c", "db")
    assert wrong.code == 1 and "container db is not valid for pod web-1, choose one of: [app sidecar]" in wrong.err


def test_missing_pod_pod_without_vm_and_vm_gone(cloud_cli: Cli, crt: Runtime, compute: ComputeEmulator,
                                               project: str) -> None:
    missing = cloud_cli("logs", "nope")
    assert missing.code == 1 and 'pods "nope" not found' in missing.err
    crt.store.client.document(doc_path("default", PODS, "early")).set(pod_doc("early", {"app": "web"}))
    early = cloud_cli("logs", "early")
    assert early.code == 1 and "pod early has no VM yet (phase Pending)" in early.err
    vm = make_pod(crt)
    crt.provider.ensure_instance_deleted(vm, ZONE)
    gone = cloud_cli("logs", "web-1")
    assert gone.code == 1 and f"the VM {vm} of pod web-1 is gone" in gone.err
    assert "Traceback" not in gone.err


def test_a_bad_tail_is_a_usage_error(cloud_cli: Cli) -> None:
    result = cloud_cli("logs", "web-1", "--tail", "many")
    assert result.code == 2


# -- -f, in a process of its own, as a person runs it ----------------------------------------


class Follower:
    """``python main.py logs POD -f`` with its stdout read line by line."""

    def __init__(self, project: str, compute: ComputeEmulator, cluster: str, *args: str) -> None:
        env = {**os.environ, "COMPUTE_API_ENDPOINT": compute.url, "FIRECONTROL_CLUSTER": cluster}
        self.process = subprocess.Popen([sys.executable, "main.py", "logs", *args, "-f", "--project", project],
                                        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def next(self, timeout: float = 15.0) -> str:
        return self.lines.get(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def test_follow_prints_new_output_until_ctrl_c(cloud_cli: Cli, crt: Runtime, compute: ComputeEmulator,
                                               project: str) -> None:
    vm = make_pod(crt)
    emit(compute, project, vm, "web", "before")
    so_far = cloud_cli("logs", "web-1").out.splitlines()  # the agent's own lines, then ours
    assert so_far[-1] == "before"
    follower = Follower(project, compute, crt.settings.cluster, "web-1")
    try:
        assert [follower.next() for _ in so_far] == so_far
        emit(compute, project, vm, "web", "after 1\nafter 2")
        assert [follower.next(), follower.next()] == ["after 1", "after 2"]
        emit(compute, project, vm, "web", "after 3")
        assert follower.next() == "after 3"
        assert follower.process.poll() is None, "it keeps following"
        follower.process.send_signal(signal.SIGINT)
        assert follower.process.wait(timeout=10) == 0
        assert follower.lines.empty()
    finally:
        follower.stop()


def test_follow_ends_when_the_vm_is_gone(cloud_cli: Cli, crt: Runtime, compute: ComputeEmulator,
                                         project: str) -> None:
    vm = make_pod(crt, containers=("app", "sidecar"))
    emit(compute, project, vm, "sidecar", "s1")
    so_far = cloud_cli("logs", "web-1", "-c", "sidecar").out.splitlines()
    assert so_far[-1] == "s1"
    follower = Follower(project, compute, crt.settings.cluster, "web-1", "-c", "sidecar")
    try:
        assert [follower.next() for _ in so_far] == so_far
        emit(compute, project, vm, "app", "not mine")
        emit(compute, project, vm, "sidecar", "s2")
        assert follower.next() == "s2"
        crt.provider.ensure_instance_deleted(vm, ZONE)
        assert follower.process.wait(timeout=15) == 0
        assert follower.lines.empty() or follower.next(timeout=1) != "not mine"
    finally:
        follower.stop()


# -- the pure parts -------------------------------------------------------------------------


def test_lines_are_cut_whole_and_only_the_container_s_kept() -> None:
    lines = Lines("web")
    assert lines.feed("fc-log web hel") == []
    assert lines.feed("lo\nfc-log webby no\nfc-log side x\nboot noise\r\nfc-log web\n") == ["hello", ""]
    assert lines.feed("fc-log web a b  c\r\nfc-log web ") == ["a b  c"]
    assert lines.feed("\n") == [""]
    assert lines.feed("") == []


def test_choosing_a_container_as_kubectl_does() -> None:
    assert choose_container("p", ["only"], None) == "only"
    assert choose_container("p", ["a", "b"], "b") == "b"
    with pytest.raises(CliError, match=r"a container name must be specified for pod p, choose one of: \[a b\]"):
        choose_container("p", ["a", "b"], None)
    with pytest.raises(CliError, match=r"container c is not valid for pod p"):
        choose_container("p", ["a", "b"], "c")
    assert printable("a\tb\x1b") == "a\tb\\x1b"


def test_follow_polls_about_every_second() -> None:
    from functions.cli import logs

    assert 0.5 <= logs.FOLLOW_INTERVAL <= 2.0


# -- a finished pod: its VM released, its output kept (functions/controllers/pod_logs.py) ----------------


def _finish_and_release(crt: Runtime, name: str = "web-1") -> None:
    """The pod fails (restartPolicy Never, its container exited 1): the pod runtime keeps
    its output and deletes its VM."""
    rt = agent_runtime(crt)
    rt.store.client.document(doc_path("default", PODS, name)).update({"status.phase": "Failed"})
    assert sync_pod(rt.store, rt.provider, rt.settings, "default", name, rt.clock).action == "deleted"


def test_a_finished_pod_s_output_is_printed_after_its_vm_is_gone(cloud_cli: Cli, crt: Runtime,
                                                                  compute: ComputeEmulator, project: str) -> None:
    vm = make_pod(crt, containers=("app", "sidecar"))
    emit(compute, project, vm, "app", "one\ntwo\n\x1b[31mred\tthree")
    emit(compute, project, vm, "sidecar", "side")
    before = cloud_cli("logs", "web-1", "-c", "app").out
    _finish_and_release(crt)
    with pytest.raises(NotFoundError):
        crt.provider.get_instance(vm, ZONE)
    after = cloud_cli("logs", "web-1", "-c", "app")
    assert after.code == 0, after.err
    assert after.out == before and after.out.endswith("one\ntwo\n\\x1b[31mred\tthree\n")
    assert cloud_cli("logs", "web-1", "-c", "app", "--tail", "2").out == "two\n\\x1b[31mred\tthree\n"
    assert cloud_cli("logs", "web-1", "-c", "app", "--tail", "0").out == ""
    assert cloud_cli("logs", "web-1", "-c", "sidecar").out.endswith("side\n")
    assert "side" not in after.out
    unnamed = cloud_cli("logs", "web-1")
    assert unnamed.code == 1 and "a container name must be specified" in unnamed.err


def test_follow_on_a_finished_pod_prints_what_was_kept_and_ends(cloud_cli: Cli, crt: Runtime,
                                                                compute: ComputeEmulator, project: str) -> None:
    vm = make_pod(crt)
    emit(compute, project, vm, "web", "exit 1 coming")
    _finish_and_release(crt)
    follower = Follower(project, compute, crt.settings.cluster, "web-1")
    try:
        assert follower.process.wait(timeout=30) == 0
        printed = []
        while not follower.lines.empty():
            printed.append(follower.next())
        assert printed and printed[-1] == "exit 1 coming"
    finally:
        follower.stop()


def test_output_kept_for_an_earlier_pod_of_the_same_name_is_not_shown(cloud_cli: Cli, crt: Runtime,
                                                                       compute: ComputeEmulator) -> None:
    from functions.controllers.pod_logs import pod_logs_path

    crt.store.put(pod_logs_path("default", "web-1"),
                  {"text": "fc-log web not yours\n", "vm": "x", "podUid": "an-earlier-pod", "truncated": False})
    vm = make_pod(crt)
    crt.provider.ensure_instance_deleted(vm, ZONE)
    gone = cloud_cli("logs", "web-1")
    assert gone.code == 1 and f"the VM {vm} of pod web-1 is gone" in gone.err and "not yours" not in gone.out
    follow = cloud_cli("logs", "web-1", "-f")
    assert follow.code == 1 and "is gone" in follow.err
