#!/usr/bin/env python3
"""A stand-in for the docker CLI: the subcommands functions/vm/agent.sh uses, with
"containers" that are local processes, so probes reach real sockets.

State lives in $STANDIN_DOCKER_STATE: one directory per container (argv, pid, log, exit
code), and calls.jsonl with the argv of every call. Images:
  standin/sh      runs ``sh -c ARG0 ARG1...`` (or the --entrypoint with the args)
  standin/missing cannot be pulled
  standin/slowpull is not here until pulled; a pull takes $STANDIN_PULL_SECONDS (3)
  anything else   sleeps (the real image is not run)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

STATE = Path(os.environ["STANDIN_DOCKER_STATE"])
ZERO_TIME = "0001-01-01T00:00:00Z"


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def box(name: str) -> Path:
    return STATE / "containers" / name


def alive(name: str) -> bool:
    return (box(name) / "pid").exists() and not (box(name) / "exit").exists()


def wait_exit(name: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(name):
            return True
        time.sleep(0.02)
    return not alive(name)


def signal_group(name: str, sig: int) -> None:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
        os.killpg(int((box(name) / "pid").read_text()), sig)


def parse_run(argv: list[str]) -> tuple[dict[str, object], list[str]]:
    opts: dict[str, object] = {"env": [], "volumes": []}
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if not word.startswith("-"):
            break
        if word in ("--detach", "-d") or word.startswith("--network=") or word.startswith("--restart="):
            i += 1
        elif word in ("--name", "--env", "-e", "--entrypoint", "--volume", "-v", "--restart"):
            value = argv[i + 1]
            key = {"-e": "env", "--env": "env", "-v": "volumes", "--volume": "volumes"}.get(word, word[2:])
            if key in ("env", "volumes"):
                opts[key].append(value)  # type: ignore[attr-defined]
            else:
                opts[key] = value
            i += 2
        else:
            sys.exit(f"standin docker: unknown run flag {word!r}")
    return opts, argv[i:]


def run(argv: list[str]) -> int:
    opts, rest = parse_run(argv)
    name, image, args = str(opts["name"]), rest[0], rest[1:]
    if box(name).exists():
        print(f"Conflict. The container name \"/{name}\" is already in use", file=sys.stderr)
        return 125
    if image.startswith("standin/missing"):
        print("Unable to find image", file=sys.stderr)
        return 125
    box(name).mkdir(parents=True)
    cid = secrets.token_hex(32)
    (box(name) / "config.json").write_text(json.dumps({
        "argv": argv, "image": image, "args": args, "env": opts["env"], "id": cid,
        "entrypoint": opts.get("entrypoint"),
        "imageId": "sha256:" + hashlib.sha256(image.encode()).hexdigest(),
    }))
    subprocess.Popen([sys.executable, __file__, "_supervise", name], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not (box(name) / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    print(cid)
    return 0


def supervise(name: str) -> int:
    """Runs the container's process, then records its exit code and finish time."""
    config = json.loads((box(name) / "config.json").read_text())
    env = dict(os.environ)
    env.update(dict(item.split("=", 1) for item in config["env"]))
    if config["image"].startswith("standin/sh"):
        argv = [config["entrypoint"], *config["args"]] if config["entrypoint"] else ["sh", "-c", *config["args"]]
    else:
        argv = [sys.executable, "-c", "import time; time.sleep(3600)"]
    with open(box(name) / "log", "ab") as log:
        child = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        (box(name) / "started").write_text(str(time.time()))
        (box(name) / "pid").write_text(str(child.pid))
        code = child.wait()
    (box(name) / "finished").write_text(str(time.time()))
    (box(name) / "exit").write_text(str(128 - code if code < 0 else code))
    return 0


def pull(command: str, image: str) -> int:
    """``image inspect`` (is it here?) and ``pull`` (fetch it) of the stand-in images."""
    if image.startswith("standin/missing"):
        return 1
    if not image.startswith("standin/slowpull"):
        return 0
    marker = STATE / "pulled" / hashlib.sha256(image.encode()).hexdigest()
    if command == "pull":
        time.sleep(float(os.environ.get("STANDIN_PULL_SECONDS", "3")))
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    return 0 if marker.exists() else 1


def inspect(argv: list[str]) -> int:
    fmt, name = argv[argv.index("--format") + 1], argv[-1]
    if not (box(name) / "config.json").exists():
        print(f"Error: No such object: {name}", file=sys.stderr)
        return 1
    config = json.loads((box(name) / "config.json").read_text())
    running = alive(name)
    started = (box(name) / "started").read_text() if (box(name) / "started").exists() else None
    finished = (box(name) / "finished").read_text() if (box(name) / "finished").exists() else None
    values = {
        "{{.State.Status}}": "running" if running else ("exited" if finished else "created"),
        "{{.State.Running}}": "true" if running else "false",
        "{{.State.ExitCode}}": (box(name) / "exit").read_text() if finished else "0",
        "{{.State.OOMKilled}}": "false",
        "{{.State.StartedAt}}": stamp(float(started)) if started else ZERO_TIME,
        "{{.State.FinishedAt}}": stamp(float(finished)) if finished else ZERO_TIME,
        "{{.Image}}": config["imageId"],
        "{{.Id}}": config["id"],
    }
    for placeholder, value in values.items():
        fmt = fmt.replace(placeholder, value)
    print(fmt)
    return 0


def exec_(argv: list[str]) -> int:
    name, command = argv[0], argv[1:]
    if not alive(name):
        print(f"Error response from daemon: container {name} is not running", file=sys.stderr)
        return 1
    config = json.loads((box(name) / "config.json").read_text())
    env = dict(os.environ)
    env.update(dict(item.split("=", 1) for item in config["env"]))
    with open(STATE / "exec.jsonl", "a") as record:
        record.write(json.dumps([name, *command]) + "\n")
    try:
        return subprocess.run(command, env=env).returncode
    except FileNotFoundError:
        return 127


def stop(argv: list[str]) -> int:
    name = argv[-1]
    seconds = float(argv[argv.index("--time") + 1]) if "--time" in argv else 10.0
    signal_group(name, signal.SIGTERM)
    if not wait_exit(name, seconds):
        signal_group(name, signal.SIGKILL)
        wait_exit(name, 5)
    print(name)
    return 0


def rm(argv: list[str]) -> int:
    name = argv[-1]
    if not box(name).exists():
        return 1
    signal_group(name, signal.SIGKILL)
    wait_exit(name, 5)
    for path in sorted(box(name).iterdir()):
        path.rename(STATE / "removed" / f"{name}-{time.time_ns()}-{path.name}")
    box(name).rmdir()
    return 0


def logs(argv: list[str]) -> int:
    """``logs [--follow] [--since T] NAME``: the output so far, then until it exits."""
    name = argv[-1]
    path = box(name) / "log"
    if not box(name).exists():
        return 1
    follow = "--follow" in argv
    offset = 0
    out = sys.stdout.buffer
    while True:
        done = not alive(name) and (box(name) / "exit").exists()
        try:
            with open(path, "rb") as log:
                log.seek(offset)
                chunk = log.read()
        except FileNotFoundError:
            return 0  # removed under us
        if chunk:
            out.write(chunk)
            out.flush()
            offset += len(chunk)
        if done or not follow:
            return 0
        time.sleep(0.05)


def cleanup(_: list[str]) -> int:
    """Kills every container still running (tests call this at the end)."""
    for container in (STATE / "containers").iterdir():
        signal_group(container.name, signal.SIGKILL)
    return 0


def main(argv: list[str]) -> int:
    for folder in ("containers", "removed"):
        (STATE / folder).mkdir(parents=True, exist_ok=True)
    if argv[:1] == ["_supervise"]:
        return supervise(argv[1])
    with open(STATE / "calls.jsonl", "a") as calls:
        calls.write(json.dumps(argv) + "\n")
    command, rest = argv[0], argv[1:]
    if (command == "image" and rest[:1] == ["inspect"]) or command == "pull":
        return pull(command, rest[-1])
    handlers: dict[str, Callable[[list[str]], int]] = {"run": run, "inspect": inspect, "exec": exec_, "stop": stop, "rm": rm, "logs": logs,
                                                       "_cleanup": cleanup}
    if command not in handlers:
        print(f"standin docker: unknown command {command!r}", file=sys.stderr)
        return 2
    return handlers[command](rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
