"""Helpers for the simulated agent's tests: a stand-in for pod_status and agent VMs.

``serve_receiver`` is a real local HTTP server (stdlib) that keeps every report it gets, with
its Authorization header, and answers the status its test sets. ``agent_vm`` makes a VM
through the real google-cloud-compute client with the pod metadata of
docs/agent-protocol.md §1.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.cloud import compute_v1

from emulator.compute import ComputeEmulator
from tests.compute.support import PROJECT, ZONE
from tests.compute.test_emulator_api import new_instance, wait_zone

SCALE = 50.0  # agent seconds per real second in these tests: a 10 s back-off is 0.2 s


@dataclass
class Received:
    token: str
    body: dict[str, Any]


@dataclass
class Receiver:
    url: str
    reports: list[Received] = field(default_factory=list)
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, pod: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r.body for r in self.reports if pod is None or r.body.get("pod") == pod]


@contextlib.contextmanager
def serve_receiver() -> Iterator[Receiver]:
    server: ThreadingHTTPServer
    found = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            with found.lock:
                found.reports.append(Received(token, json.loads(raw)))
                status = found.status
            data = json.dumps({"accepted": status == 200}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    found.url = f"http://127.0.0.1:{server.server_address[1]}/pod_status"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


def pod_metadata(status_url: str, containers: list[dict[str, str]], **extra: str) -> dict[str, str]:
    """The metadata of a pod VM: ``containers`` are ``{name, image, <suffix>: value}`` dicts
    whose other keys become ``fc-c{i}-{suffix}``."""
    meta = {"fc-agent": "1", "firecontrol-pod": "default/web-1", "fc-status-url": status_url,
            "fc-heartbeat-seconds": "60", "fc-grace-seconds": "30", "fc-restart-policy": "Always",
            "fc-containers": str(len(containers))}
    for i, container in enumerate(containers):
        for suffix, value in container.items():
            meta[f"fc-c{i}-{suffix}"] = value
    meta.update({k.replace("_", "-"): v for k, v in extra.items()})
    return meta


def make_vm(client_kwargs: dict[str, Any], name: str, metadata: dict[str, str]) -> None:
    instance = new_instance(name)
    instance.metadata = compute_v1.Metadata(items=[compute_v1.Items(key=k, value=v) for k, v in metadata.items()])
    op = compute_v1.InstancesClient(**client_kwargs).insert_unary(project=PROJECT, zone=ZONE, instance_resource=instance)
    wait_zone(client_kwargs, op)


def set_items(client_kwargs: dict[str, Any], name: str, items: dict[str, str | None]) -> None:
    """Merge ``items`` into the VM's metadata (None removes), as the controllers do."""
    instances = compute_v1.InstancesClient(**client_kwargs)
    current = instances.get(project=PROJECT, zone=ZONE, instance=name).metadata
    merged = {i.key: i.value for i in current.items}
    for key, value in items.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    body = compute_v1.Metadata(fingerprint=current.fingerprint,
                               items=[compute_v1.Items(key=k, value=v) for k, v in merged.items()])
    wait_zone(client_kwargs, instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance=name,
                                                          metadata_resource=body))


def call(emulator: ComputeEmulator, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(emulator.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"{}")


def agent_path(name: str) -> str:
    return f"/admin/agents/{PROJECT}/{ZONE}/{name}"


def wait_for(what: Callable[[], Any], timeout: float = 5.0, message: str = "") -> Any:
    """Poll ``what`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = what()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message or what}")
        time.sleep(0.01)
