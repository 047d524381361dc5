"""What the agent talks to, on real local sockets: a metadata server, a report receiver,
and the agent itself run as a process group with stand-in docker and iptables."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "functions" / "vm" / "agent.sh"
HERE = Path(__file__).resolve().parent
DOCKER = HERE / "standin_docker.py"
IPTABLES = HERE / "standin_iptables.py"
ATTRIBUTES = "/computeMetadata/v1/instance/attributes/"
IDENTITY = "/computeMetadata/v1/instance/service-accounts/default/identity"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return

    def reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class MetadataServer:
    """The metadata server: attributes (with the listing), and identity tokens that
    record the audience asked for. ``items`` may change while the agent runs."""

    items: dict[str, str] = field(default_factory=dict)
    audiences: list[str] = field(default_factory=list)
    refused: int = 0
    url: str = ""

    @contextmanager
    def serving(self) -> Iterator[MetadataServer]:
        owner = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                if self.headers.get("Metadata-Flavor") != "Google":
                    owner.refused += 1
                    return self.reply(403, b"Missing Metadata-Flavor:Google header.")
                url = urlsplit(self.path)
                if url.path == ATTRIBUTES:
                    return self.reply(200, "".join(f"{key}\n" for key in owner.items).encode())
                if url.path.startswith(ATTRIBUTES):
                    key = unquote(url.path[len(ATTRIBUTES):])
                    if key in owner.items:
                        return self.reply(200, owner.items[key].encode())
                    return self.reply(404, b"not found")
                if url.path == IDENTITY:
                    query = parse_qs(url.query)
                    owner.audiences.append(query["audience"][0])
                    assert query["format"] == ["full"]
                    return self.reply(200, f"token-{len(owner.audiences)}".encode())
                return self.reply(404, b"not found")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/computeMetadata/v1"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


@dataclass
class Receiver:
    """pod_status's stand-in: keeps every report (its Authorization header and parsed
    body) and answers 200."""

    reports: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    url: str = ""

    @contextmanager
    def serving(self) -> Iterator[Receiver]:
        owner = self

        class Handler(_Quiet):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.headers["Content-Type"] == "application/json"
                owner.tokens.append(self.headers.get("Authorization", ""))
                owner.reports.append(json.loads(body))
                self.reply(200, b'{"accepted": true}')

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/pod_status"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()

    def container(self, name: str, report: int = -1) -> dict[str, Any]:
        return next(c for c in self.reports[report]["containers"] if c["name"] == name)


@dataclass
class Agent:
    """One running agent and its stand-ins' records."""

    process: subprocess.Popen[bytes]
    state: Path
    serial: Path
    health: Path
    iptables_log: Path
    env: dict[str, str]

    def calls(self) -> list[list[str]]:
        path = self.state / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def runs(self, name: str) -> list[list[str]]:
        """The argv of every ``docker run`` for container ``name``."""
        return [c for c in self.calls() if c[:1] == ["run"] and c[c.index("--name") + 1] == name]

    def iptables(self) -> list[list[str]]:
        path = self.iptables_log
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def execs(self) -> list[list[str]]:
        path = self.state / "exec.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def ready(self) -> bool:
        return (self.health / "healthz").exists()

    def stop(self) -> str:
        """Kills the agent's process group and every stand-in container; its stderr."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        subprocess.run([str(DOCKER), "_cleanup"], env=self.env, timeout=10, check=False)
        return (self.state / "agent.err").read_text(errors="replace")


def base_items(containers: list[dict[str, str]], **extra: str) -> dict[str, str]:
    """Metadata as vm_spec writes it for simple containers: {"name", "image", ...}."""
    items = {"firecontrol-pod": "default/web-x7k2p", "fc-restart-policy": "Always",
             "fc-grace-seconds": "30", "fc-containers": str(len(containers))}
    for i, container in enumerate(containers):
        for key, value in container.items():
            items[f"fc-c{i}-{key}"] = value
        for key in ("env", "command", "args"):
            items.setdefault(f"fc-c{i}-{key}", "0")
    items.update(extra)
    return items


def reporting(receiver: Receiver, **extra: str) -> dict[str, str]:
    """The keys that make the agent report to ``receiver``."""
    return {"fc-agent": "1", "fc-status-url": receiver.url, "fc-heartbeat-seconds": "60", **extra}


def sh(name: str, script: str) -> dict[str, str]:
    """A stand-in container that runs ``script`` with sh."""
    return {"name": name, "image": "standin/sh", "args": "1", "arg0": script}


def start_agent(tmp: Path, metadata: MetadataServer, tick: str = "0.2", backoff: str = "1") -> Agent:
    state, health = tmp / "docker", tmp / "health"
    state.mkdir(exist_ok=True)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "FIRECONTROL_METADATA_URL": metadata.url,
        "FIRECONTROL_DOCKER": str(DOCKER),
        "FIRECONTROL_IPTABLES": str(IPTABLES),
        "FIRECONTROL_SERIAL": str(tmp / "serial"),
        "FIRECONTROL_HEALTH_DIR": str(health),
        "FIRECONTROL_AGENT_TICK": tick,
        "FIRECONTROL_AGENT_BACKOFF": backoff,
        "STANDIN_DOCKER_STATE": str(state),
        "STANDIN_IPTABLES_LOG": str(tmp / "iptables.jsonl"),
    }
    with open(state / "agent.err", "wb") as err:
        process = subprocess.Popen(["bash", str(AGENT)], env=env, stdin=subprocess.DEVNULL,
                                   stdout=err, stderr=err, start_new_session=True)
    return Agent(process, state, tmp / "serial", health, tmp / "iptables.jsonl", env)


def wait_for(check: Callable[[], Any], seconds: float = 10.0, what: str = "condition") -> Any:
    """Polls ``check`` until it returns something truthy; that value."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.05)
