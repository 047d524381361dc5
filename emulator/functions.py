"""Run one functions-framework server per function, as Cloud Run runs each function."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from emulator.firestore import free_port
from emulator.process import stop_group

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class FunctionServer:
    target: str
    signature_type: str  # "cloudevent" or "http"
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30.0) -> FunctionServer:
        self.port = self.port or free_port()
        args = [
            sys.executable, "-m", "functions_framework",
            "--source", str(ROOT / "main.py"), "--target", self.target,
            "--signature-type", self.signature_type, "--host", "127.0.0.1", "--port", str(self.port),
        ]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            args, cwd=ROOT, env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"function {self.target} exited with {self.process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"function {self.target} did not listen on {self.port} in {timeout:.0f} s")

    def stop(self) -> None:
        stop_group(self.process)
