"""``python -m emulator.scheduler --port 8090``: serve the Cloud Scheduler emulator in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
from datetime import datetime

from emulator.jsonhttp import serve_until_interrupted

from .server import SchedulerEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator.scheduler", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("SCHEDULER_EMULATOR_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SCHEDULER_EMULATOR_PORT", "8090")))
    parser.add_argument(
        "--time-scale", type=float, default=float(os.environ.get("SCHEDULER_EMULATOR_TIME_SCALE", "1")),
        help="emulated seconds per real second: 60 runs an every-minute job each second, 0 freezes the clock",
    )
    parser.add_argument(
        "--start-time", type=datetime.fromisoformat, default=os.environ.get("SCHEDULER_EMULATOR_START_TIME"),
        help="ISO 8601 time the clock starts at (default: now)",
    )
    parser.add_argument("--log-level", default=os.environ.get("SCHEDULER_EMULATOR_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    emulator = SchedulerEmulator(args.host, args.port, time_scale=args.time_scale, start_time=args.start_time)
    print(f"Cloud Scheduler emulator on {emulator.url} (time scale {args.time_scale:g})", flush=True)
    serve_until_interrupted(emulator.serve_forever, emulator.server)


if __name__ == "__main__":
    main()
