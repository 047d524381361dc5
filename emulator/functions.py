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

from emulator.process import EmulatorError, ensure_free, start_on_a_free_port, stop_group

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
        self.port = start_on_a_free_port(self.port, lambda port: self._start_on(port, timeout))
        return self

    def _start_on(self, port: int, timeout: float) -> None:
        self.port = port
        ensure_free(port, f"function {self.target}")
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
                where = f"; its output is in {self.log_path}" if self.log_path else ""
                raise EmulatorError(f"function {self.target} exited with {self.process.returncode}{where}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.1)
        self.stop()
        raise EmulatorError(f"function {self.target} did not listen on {self.port} in {timeout:.0f} s")

    def stop(self) -> None:
        stop_group(self.process)
