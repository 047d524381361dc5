"""Probes against real local sockets and commands: readiness flips Ready and the health
file, liveness restarts, startup gates the others."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.agent.support import Agent, Receiver, base_items, free_port, reporting, sh, wait_for

Start = Callable[[dict[str, str]], Agent]
FAST = "0 1 1 1 1"  # initialDelay period timeout successThreshold failureThreshold


def web(name: str, port: int, root: Path) -> dict[str, str]:
    """A container serving ``root`` over HTTP on ``port``: a real local server."""
    return sh(name, f"cd '{root}' && exec python3 -m http.server {port} --bind 127.0.0.1")


def ready_in_reports(receiver: Receiver, name: str) -> list[bool]:
    return [c["ready"] for r in receiver.reports for c in r["containers"] if c["name"] == name]


def test_http_readiness_flips_ready_and_health(agent: Start, receiver: Receiver, tmp_path: Path) -> None:
    port, root = free_port(), tmp_path / "www"
    root.mkdir()
    (root / "ready").write_text("ok")
    container = web("app", port, root)
    container.update({"readiness": "http", "readiness-port": str(port), "readiness-path": "/ready",
                      "readiness-scheme": "HTTP", "readiness-timing": FAST,
                      "readiness-headers": "1", "readiness-header0-name": "X-Probe",
                      "readiness-header0-value": "$(touch pwned) \"x\""})
    a = agent(base_items([container], **reporting(receiver)))
    wait_for(a.ready, what="Ready")
    wait_for(lambda: receiver.container("app")["ready"], what="a ready report")
    (root / "ready").unlink()  # the server now answers 404
    wait_for(lambda: not a.ready(), what="not Ready")
    wait_for(lambda: ready_in_reports(receiver, "app")[-1] is False, what="a not-ready report")
    (root / "ready").write_text("ok")
    wait_for(a.ready, what="Ready again")
    wait_for(lambda: ready_in_reports(receiver, "app")[-1], what="a ready report again")
    seen = ready_in_reports(receiver, "app")
    assert [v for i, v in enumerate(seen) if i == 0 or v != seen[i - 1]] == [False, True, False, True]
    assert not (tmp_path / "pwned").exists()


def test_tcp_readiness(agent: Start, receiver: Receiver, tmp_path: Path) -> None:
    port, closed = free_port(), free_port()
    up = web("up", port, tmp_path)
    up.update({"readiness": "tcp", "readiness-port": str(port), "readiness-timing": FAST})
    down = sh("down", "exec sleep 30")
    down.update({"readiness": "tcp", "readiness-port": str(closed), "readiness-host": "127.0.0.1",
                 "readiness-timing": FAST})
    a = agent(base_items([up, down], **reporting(receiver)))
    wait_for(lambda: receiver.reports and receiver.container("up")["ready"], what="up ready")
    time.sleep(1.5)
    assert receiver.container("down")["ready"] is False and receiver.container("down")["state"] == "running"
    assert not a.ready()  # one container not ready: the pod is not


def test_exec_readiness_runs_in_the_container(agent: Start, receiver: Receiver, tmp_path: Path) -> None:
    flag = tmp_path / "flag with space"
    container = sh("app", "exec sleep 30")
    container.update({"readiness": "exec", "readiness-command": "3", "readiness-command0": "test",
                      "readiness-command1": "-e", "readiness-command2": str(flag), "readiness-timing": FAST})
    a = agent(base_items([container], **reporting(receiver)))
    wait_for(lambda: a.execs(), what="an exec probe")
    assert a.execs()[0] == ["app", "test", "-e", str(flag)]
    time.sleep(1)
    assert not a.ready()
    flag.write_text("")
    wait_for(a.ready, what="Ready")


def test_liveness_failure_restarts_the_container(agent: Start, receiver: Receiver, tmp_path: Path) -> None:
    container = sh("app", "exec sleep 30")
    container.update({"liveness": "exec", "liveness-command": "2", "liveness-command0": "false",
                      "liveness-command1": "--never", "liveness-timing": "1 1 1 1 2"})
    a = agent(base_items([container], **reporting(receiver)))
    wait_for(lambda: len(a.runs("app")) >= 2, what="a restart")
    stop = next(c for c in a.calls() if c[:1] == ["stop"])
    assert stop == ["stop", "--time", "30", "app"]  # killed with the pod's grace period
    restarted = wait_for(lambda: next((c for r in receiver.reports for c in r["containers"]
                                       if c["restartCount"] == 1), None), what="restartCount 1")
    assert restarted["lastState"]["exitCode"] == 143  # SIGTERM
    assert restarted["lastState"]["reason"] == "Error"


def test_startup_probe_gates_readiness(agent: Start, receiver: Receiver, tmp_path: Path) -> None:
    started = tmp_path / "started"
    container = sh("app", "exec sleep 30")
    container.update({"startup": "exec", "startup-command": "2", "startup-command0": "cat",
                      "startup-command1": str(started), "startup-timing": "0 1 1 1 30",
                      "readiness": "exec", "readiness-command": "1", "readiness-command0": "true",
                      "readiness-timing": FAST})
    a = agent(base_items([container], **reporting(receiver)))
    wait_for(lambda: len(a.execs()) >= 2, what="two startup probes")
    assert {tuple(e[1:]) for e in a.execs()} == {("cat", str(started))}  # no readiness probe yet
    assert receiver.container("app")["started"] is False and not a.ready()
    started.write_text("")
    wait_for(a.ready, what="Ready")
    wait_for(lambda: receiver.container("app")["started"] and receiver.container("app")["ready"],
             what="a started, ready report")
