"""The agent runs containers as docker is told, verbatim, and restarts them by policy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.agent.support import Agent, MetadataServer, Receiver, base_items, reporting, sh, wait_for

Start = Callable[[dict[str, str]], Agent]

HOSTILE = [
    "$(touch {canary})",
    "`touch {canary}`",
    "; touch {canary} #",
    "'\"\\ && touch {canary} | cat",
    "line one\nline two\n\n",
    "--privileged",
    "-e",
    "${{HOME}} * ? [a] ~",
    "ünïcödé ☃ \t tab",
    "with spaces  and  more",
]


def test_hostile_strings_are_each_one_argument(agent: Start, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    words = [w.format(canary=canary) for w in HOSTILE]
    items = base_items([{"name": "app", "image": "busybox:1.36"}])
    items.update({"fc-c0-command": "3", "fc-c0-args": str(len(words) - 3), "fc-c0-env": str(len(words))})
    items.update({f"fc-c0-command{j}": w for j, w in enumerate(words[:3])})
    items.update({f"fc-c0-arg{j}": w for j, w in enumerate(words[3:])})
    for j, w in enumerate(words):
        items[f"fc-c0-env{j}-name"] = f"V{j}"
        items[f"fc-c0-env{j}-value"] = w
    a = agent(items)
    [argv] = wait_for(lambda: a.runs("app"), what="docker run")
    expected = ["run", "--detach", "--network=host", "--name", "app"]
    expected += [x for j, w in enumerate(words) for x in ("--env", f"V{j}={w}")]
    expected += ["--entrypoint", words[0], "--", "busybox:1.36", *words[1:3], *words[3:]]
    assert argv == expected
    assert "--restart" not in argv  # the agent restarts, not docker
    assert not canary.exists()


def test_a_crashing_container_backs_off_longer_each_time(agent: Start, receiver: Receiver) -> None:
    a = agent(base_items([sh("app", "echo starting; exit 3")], **reporting(receiver)))
    wait_for(lambda: any(c["restartCount"] >= 3 and c["state"] == "waiting"
                         for r in receiver.reports for c in r["containers"]), what="three restarts")
    waits = [(c["restartCount"], c["message"]) for r in receiver.reports for c in r["containers"]
             if c["state"] == "waiting" and c["reason"] == "CrashLoopBackOff"]
    # As the kubelet: the first restart at once, then each wait twice the one before
    # (base 1 s here, 10 s on a VM), counted per restart.
    assert waits[:3] == [(1, "back-off 1s restarting failed container=app"),
                         (2, "back-off 2s restarting failed container=app"),
                         (3, "back-off 4s restarting failed container=app")]
    backing_off = next(c for r in receiver.reports for c in r["containers"]
                       if c["restartCount"] == 2 and c["state"] == "waiting")
    assert backing_off["ready"] is False and backing_off["started"] is False
    assert backing_off["lastState"]["exitCode"] == 3 and backing_off["lastState"]["reason"] == "Error"
    assert not a.ready()  # the health endpoint says not Ready while it is down
    assert len(a.runs("app")) == 4  # the first run and three restarts


def test_never_exit_0_is_completed_and_exit_1_is_error(agent: Start, receiver: Receiver) -> None:
    items = base_items([sh("good", "exit 0"), sh("bad", "sleep 0.3; exit 1")], **reporting(receiver))
    items["fc-restart-policy"] = "Never"
    a = agent(items)
    wait_for(lambda: receiver.reports and all(
        c["state"] == "terminated" for c in receiver.reports[-1]["containers"]), what="both terminated")
    good, bad = receiver.container("good"), receiver.container("bad")
    assert (good["exitCode"], good["reason"], bad["exitCode"], bad["reason"]) == (0, "Completed", 1, "Error")
    assert good["restartCount"] == bad["restartCount"] == 0
    assert good["finishedAt"] >= good["startedAt"] > 1_600_000_000
    assert len(a.runs("good")) == len(a.runs("bad")) == 1  # Never: not restarted


def test_on_failure_restarts_only_a_failure(agent: Start, receiver: Receiver) -> None:
    items = base_items([sh("good", "exit 0"), sh("bad", "exit 2")], **reporting(receiver))
    items["fc-restart-policy"] = "OnFailure"
    a = agent(items)
    wait_for(lambda: len(a.runs("bad")) >= 3, what="the failed container restarted")
    wait_for(lambda: receiver.container("good")["state"] == "terminated", what="the good one reported done")
    assert len(a.runs("good")) == 1


def test_reports_carry_a_fresh_token_and_parse(agent: Start, receiver: Receiver, metadata: MetadataServer) -> None:
    a = agent(base_items([sh("app", "exec sleep 30")], **reporting(receiver, **{"fc-heartbeat-seconds": "1"})))
    wait_for(lambda: len(receiver.reports) >= 3, what="three reports")  # heartbeats: nothing changes
    assert receiver.tokens[:3] == ["Bearer token-1", "Bearer token-2", "Bearer token-3"]
    assert metadata.audiences[:3] == [receiver.url] * 3
    first = receiver.reports[0]
    assert first["pod"] == "default/web-x7k2p" and first["terminating"] is False
    assert {r["boot"] for r in receiver.reports} == {first["boot"]}
    assert [r["sequence"] for r in receiver.reports] == list(range(1, len(receiver.reports) + 1))
    running = receiver.container("app")
    assert running["state"] == "running" and running["ready"] is True and running["started"] is True
    assert running["containerID"].startswith("docker://") and len(running["containerID"]) == 73
    assert running["imageID"].startswith("docker://sha256:")
    assert a.ready()


def test_no_status_url_runs_containers_and_reports_nothing(agent: Start, receiver: Receiver) -> None:
    a = agent(base_items([sh("app", "exec sleep 30")]))
    wait_for(a.ready, what="Ready")
    assert receiver.reports == []


def test_output_goes_to_the_serial_port_prefixed(agent: Start) -> None:
    items = base_items([sh("app", "echo 'hello world'; echo '$(not run) \"q\"'; printf 'no newline'"),
                        sh("side", "echo from side; sleep 30")])
    items["fc-restart-policy"] = "Never"  # the last line, without its newline, comes at exit
    a = agent(items)
    lines = wait_for(lambda: a.serial.exists() and len(a.serial.read_text().splitlines()) >= 4
                     and a.serial.read_text().splitlines(), what="four lines")
    assert sorted(lines) == sorted(["fc-log app hello world", 'fc-log app $(not run) "q"',
                                    "fc-log app no newline", "fc-log side from side"])


def test_an_image_that_cannot_be_pulled_backs_off(agent: Start, receiver: Receiver) -> None:
    agent(base_items([{"name": "app", "image": "standin/missing:1"}], **reporting(receiver)))
    waiting = wait_for(lambda: receiver.reports and receiver.container("app")["reason"] == "ImagePullBackOff"
                       and receiver.container("app"), what="a failed pull reported")  # ContainerCreating first
    assert waiting["state"] == "waiting"
    assert waiting["message"] == "back-off 1s pulling image for container=app"


def test_reports_go_on_while_an_image_is_pulled(agent: Start, receiver: Receiver) -> None:
    """A slow pull runs beside the loop: the first report comes at once (ContainerCreating)
    and heartbeats go on, so a large image never looks like a silent VM."""
    items = base_items([{"name": "app", "image": "standin/slowpull:1"}],
                       **reporting(receiver, **{"fc-heartbeat-seconds": "1"}))
    a = agent(items)  # the stand-in's pull takes 3 s
    creating = wait_for(lambda: receiver.reports and receiver.container("app"), seconds=2, what="a first report")
    assert (creating["state"], creating["reason"]) == ("waiting", "ContainerCreating")
    wait_for(lambda: receiver.container("app")["state"] == "running", seconds=20, what="running after the pull")
    before = [r for r in receiver.reports if r["containers"][0]["state"] == "waiting"]
    assert len(before) >= 2  # heartbeats while pulling: about one a second for 3 s
    assert len(a.runs("app")) == 1
