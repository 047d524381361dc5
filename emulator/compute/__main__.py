"""``python -m emulator.compute --port 8089``: serve the Compute Engine emulator in the foreground."""

from __future__ import annotations

import argparse
import os

from emulator.jsonhttp import serve_until_interrupted

from .model import Quotas, Timing
from .server import ComputeEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator.compute", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("COMPUTE_EMULATOR_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("COMPUTE_EMULATOR_PORT", "8089")))
    parser.add_argument("--operation-delay", type=float, default=Timing.operation_delay)
    parser.add_argument("--provisioning-delay", type=float, default=Timing.provisioning_delay)
    parser.add_argument("--staging-delay", type=float, default=Timing.staging_delay)
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault-injection RNG")
    parser.add_argument("--cpu-quota", type=float, default=float(os.environ.get("COMPUTE_EMULATOR_CPU_QUOTA", Quotas.cpus)),
                        help="the CPUS quota of every region (vCPUs of instances not TERMINATED)")
    parser.add_argument("--agent-time-scale", type=float, default=None,
                        help="divide every simulated agent duration by this (env FIRECONTROL_AGENT_TIME_SCALE, default 1)")
    args = parser.parse_args(argv)
    timing = Timing(args.operation_delay, args.provisioning_delay, args.staging_delay)
    emulator = ComputeEmulator(args.host, args.port, timing=timing, seed=args.seed, quotas=Quotas(cpus=args.cpu_quota),
                               agent_time_scale=args.agent_time_scale)
    print(f"Compute Engine emulator on {emulator.url} (COMPUTE_API_ENDPOINT={emulator.url})", flush=True)
    serve_until_interrupted(emulator.serve_forever, emulator.server)


if __name__ == "__main__":
    main()
