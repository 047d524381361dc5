"""The trigger router: the Firestore emulator posts every trigger to one address.

It POSTs ``/functions/projects/{project}/triggers/{trigger_id}`` and never retries.
The router answers at once and delivers in the background, as Eventarc does: to
where that trigger's function runs (a URL, for a functions-framework server) or to a
callable (for in-process tests), retrying a failed delivery after each of
``retry_delays`` (Eventarc's exponential backoff, scaled down). For fault tests it
can also deliver an event twice (``duplicate``, a probability) and hold each one a
random time (``delay``, a (low, high) range in seconds), which reorders them. Every
delivery is kept so tests can replay them.
"""

from __future__ import annotations

import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PATH = re.compile(r"^/functions/projects/(?P<project>[^/]+)/triggers/(?P<trigger>[^/?]+)")
# Eventarc retries with exponential backoff from 10 s to 600 s; here 1/100 of it.
DEFAULT_RETRY_DELAYS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.0)


@dataclass(frozen=True)
class Delivery:
    project: str
    trigger: str
    headers: dict[str, str]
    body: bytes


Target = str | Callable[[Delivery], None]


class TriggerRouter:
    def __init__(
        self,
        port: int = 0,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        duplicate: float = 0.0,
        delay: tuple[float, float] = (0.0, 0.0),
        seed: int | None = None,
        workers: int = 16,
    ) -> None:
        self.targets: dict[tuple[str, str], Target] = {}
        self.deliveries: list[Delivery] = []
        self.failures: list[str] = []
        self.copies: list[tuple[str, int]] = []  # (project, copies handed on) per routed event
        self.retry_delays = retry_delays
        self.duplicate = duplicate
        self.delay = delay
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="trigger")
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        router = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _PATH.match(self.path)
                if match is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                router.accept(Delivery(match["project"], match["trigger"], dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> TriggerRouter:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def route(self, project: str, trigger: str, target: Target | None) -> None:
        with self._lock:
            if target is None:
                self.targets.pop((project, trigger), None)
            else:
                self.targets[(project, trigger)] = target

    def recorded(self, project: str, trigger: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.project == project and trigger in (None, d.trigger)]

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until every accepted event was delivered (or gave up): for tests and benchmarks."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def accept(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)
            target = self.targets.get((delivery.project, delivery.trigger))
            if target is None:
                return  # recorded only
            copies = 2 if self.duplicate and self._rng.random() < self.duplicate else 1
            holds = [self._rng.uniform(*self.delay) for _ in range(copies)]
            self._pending += copies
            self.copies.append((delivery.project, copies))
        for hold in holds:
            self._pool.submit(self._deliver, target, delivery, hold)

    def _deliver(self, target: Target, delivery: Delivery, hold: float) -> None:
        try:
            if hold:
                time.sleep(hold)
            for attempt in range(len(self.retry_delays) + 1):
                error = self._once(target, delivery)
                if error is None:
                    return
                if attempt == len(self.retry_delays):
                    with self._lock:
                        self.failures.append(f"{delivery.project}/{delivery.trigger}: gave up after {attempt + 1} attempts: {error}")
                    return
                time.sleep(self.retry_delays[attempt])
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    @staticmethod
    def _once(target: Target, delivery: Delivery) -> str | None:
        """One delivery; the error, or None when the function took it."""
        try:
            if callable(target):
                target(delivery)
                return None
            code = forward(target, delivery)
        except Exception as error:
            return repr(error)
        return None if code < 500 else f"HTTP {code}"


def forward(url: str, delivery: Delivery) -> int:
    """POST a delivery, headers and body as they came, to a functions-framework server."""
    keep = {k: v for k, v in delivery.headers.items() if k.lower().startswith("ce-") or k.lower() == "content-type"}
    request = urllib.request.Request(url, data=delivery.body, headers=keep, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
