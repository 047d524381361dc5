"""``python -m emulator.scheduler`` serves on its own, with its clock settable from the command line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.scheduler.support import raw

ROOT = Path(__file__).resolve().parents[2]


def test_the_module_serves_the_api_and_admin_routes() -> None:
    args = [sys.executable, "-m", "emulator.scheduler", "--port", "0", "--time-scale", "0",
            "--start-time", "2030-01-01T00:00:00+00:00"]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
        assert found is not None and int(found[1]) > 0, banner
        url = found[0]
        status, clock = raw(url, "GET", "/emulator/clock")
        assert status == 200 and clock == {"now": "2030-01-01T00:00:00.000000Z", "timeScale": 0.0}
        status, page = raw(url, "GET", "/v1/projects/p/locations/l/jobs")
        assert (status, page) == (200, {})  # proto3 JSON leaves an empty list out
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
