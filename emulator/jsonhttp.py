"""What the emulators' HTTP servers share: quiet HTTP/1.1 JSON replies and the standalone run."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit


class JsonHandler(BaseHTTPRequestHandler):
    """Keep-alive (the Google clients reuse connections) and no access log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _request(self) -> tuple[SplitResult, dict[str, str], bytes]:
        """The URL, its query and the body, read whole (the connection stays usable)."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        return url, dict(parse_qsl(url.query)), raw


def serve_until_interrupted(serve_forever: Callable[[], None], server: HTTPServer) -> None:
    """``python -m emulator.X``: serve in the foreground until Ctrl-C, then free the port."""
    try:
        serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
