"""The trigger router: the Firestore emulator posts every trigger to one address.

It POSTs ``/functions/projects/{project}/triggers/{trigger_id}`` and never retries.
The router sends each delivery on to where that trigger's function runs (a URL, for
a functions-framework server) or to a callable (for in-process tests), and keeps a
copy of every delivery so tests can replay them.
"""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PATH = re.compile(r"^/functions/projects/(?P<project>[^/]+)/triggers/(?P<trigger>[^/?]+)")


@dataclass(frozen=True)
class Delivery:
    project: str
    trigger: str
    headers: dict[str, str]
    body: bytes


Target = str | Callable[[Delivery], None]


class TriggerRouter:
    def __init__(self, port: int = 0) -> None:
        self.targets: dict[tuple[str, str], Target] = {}
        self.deliveries: list[Delivery] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        router = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _PATH.match(self.path)
                if match is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                delivery = Delivery(match["project"], match["trigger"], dict(self.headers), body)
                code = router.dispatch(delivery)
                self.send_response(code)
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

    def route(self, project: str, trigger: str, target: Target) -> None:
        self.targets[(project, trigger)] = target

    def recorded(self, project: str, trigger: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.project == project and trigger in (None, d.trigger)]

    def dispatch(self, delivery: Delivery) -> int:
        with self._lock:
            self.deliveries.append(delivery)
        target = self.targets.get((delivery.project, delivery.trigger))
        if target is None:
            return 200  # recorded only
        try:
            if callable(target):
                target(delivery)
                return 200
            return forward(target, delivery)
        except Exception as error:
            with self._lock:
                self.failures.append(f"{delivery.trigger}: {error!r}")
            return 500


def forward(url: str, delivery: Delivery) -> int:
    """POST a delivery, headers and body as they came, to a functions-framework server."""
    keep = {k: v for k, v in delivery.headers.items() if k.lower().startswith("ce-") or k.lower() == "content-type"}
    request = urllib.request.Request(url, data=delivery.body, headers=keep, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
