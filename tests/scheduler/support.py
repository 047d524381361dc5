"""Shared values and helpers of the Cloud Scheduler tests: a job factory, raw HTTP, a recording target."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.cloud import scheduler_v1
from google.protobuf import duration_pb2

PROJECT = "sched-test"
REGION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{REGION}"
# The frozen clock starts 30 s past a minute: an every-minute job is due at 00:01:00.
START = datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)
SA = "firecontrol-scheduler@sched-test.iam.gserviceaccount.com"


def job_name(job_id: str) -> str:
    return f"{PARENT}/jobs/{job_id}"


def http_job(job_id: str, uri: str = "http://127.0.0.1:9/resync", schedule: str = "* * * * *", **target: Any) -> scheduler_v1.Job:
    target.setdefault("http_method", scheduler_v1.HttpMethod.POST)
    extra = {k: target.pop(k) for k in ("time_zone", "description", "retry_config", "attempt_deadline") if k in target}
    return scheduler_v1.Job(
        name=job_name(job_id), schedule=schedule, http_target=scheduler_v1.HttpTarget(uri=uri, **target), **extra,
    )


def seconds(n: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=n)


def raw(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One HTTP call without the client: (status, decoded JSON)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Target:
    """A small HTTP server that records what it receives and answers ``status``."""

    status: int = 200
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Target:
        target = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with target.arrived:
                    headers = {k.lower(): v for k, v in self.headers.items()}  # names are case-insensitive
                    target.received.append(Received(self.command, self.path, headers, body))
                    target.arrived.notify_all()
                self.send_response(target.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _record

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    def wait(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)
