"""Compute Engine API calls per load balancer operation, beside the minimum each needs.

Starts the Compute emulator in-process (operations take 50 ms, so every change needs
one ``operations.wait``), drives the real gce provider through the real client, and
counts the calls the emulator served, by API method.

The minimum, assuming operations are not DONE when first returned:
- create: 6 inserts (address, service firewall, health-check firewall, health check,
  target pool, forwarding rule) + 6 operation waits + 1 address read (the reserved IP
  is known only once the operation is DONE) = 13, plus an addInstance and a wait per
  further 1,000 hosts beyond the 200 the target pool is created with.
  We also read each resource before inserting it (6 gets that answer 404): that is
  what makes a re-run converge by reading instead of by 409s.
- ensure again, nothing changed: 6 reads (each resource must be checked, its owner
  too; no writes).
- ports change: 6 reads + the two firewalls' and the health check's patches with
  their waits (6) + forwarding rule delete and re-insert with their waits (4; the
  name is taken until the delete is DONE) = 16; the reserved address keeps the IP.
- hosts update: 1 target pool read (the diff needs the members) + per chunk of
  at most 1,000 added or removed, the call and its wait.
- delete: 6 reads (each resource's description must name this owner before it is
  deleted) + 6 deletes + 6 waits = 18 (forwarding rule first, address last).
Run: ``.venv/bin/python bench/lb_calls.py``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emulator.compute import ComputeEmulator, Timing  # noqa: E402
from functions.cloudprovider.config import GceConfig  # noqa: E402
from functions.cloudprovider.interface import Owner  # noqa: E402

PROJECT, REGION, ZONE = "bench", "us-central1", "us-central1-a"
WEB = Owner("firecontrol", "default", "Service", "web", "uid-web")
BIG = Owner("firecontrol", "default", "Service", "big", "uid-big")


def measure(emulator: ComputeEmulator, label: str, minimum: int, action: Callable[[], object]) -> None:
    emulator.faults.reset_counts()
    started = time.perf_counter()
    action()
    elapsed = time.perf_counter() - started
    calls = emulator.requests()
    total = sum(calls.values())
    by_kind = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
    print(f"{label:<34} {total:>5} {minimum:>7} {elapsed * 1000:>8.0f} ms   {by_kind}")


def main() -> None:
    logging.getLogger("firecontrol").setLevel(logging.WARNING)
    emulator = ComputeEmulator(timing=Timing(operation_delay=0.05)).start()
    try:
        hosts = [f"vm-{i:04d}" for i in range(2500)]
        emulator.state.seed_instances(PROJECT, ZONE, hosts, {"firecontrol-cluster": "firecontrol"})
        started = time.perf_counter()
        from functions.cloudprovider.gce import GceCloud

        cloud = GceCloud(GceConfig(project=PROJECT, region=REGION, zone=ZONE, endpoint=emulator.url))
        print(f"import and build the gce provider: {(time.perf_counter() - started) * 1000:.0f} ms\n")
        print(f"{'operation':<34} {'calls':>5} {'minimum':>7} {'wall':>11}   calls by API method")

        small = hosts[:50]
        measure(emulator, "create, 50 hosts", 13,
                lambda: cloud.ensure_load_balancer("web", REGION, [80, 443], small, owner=WEB))
        measure(emulator, "ensure again, nothing changed", 6,
                lambda: cloud.ensure_load_balancer("web", REGION, [80, 443], small, owner=WEB))
        swapped = hosts[10:60]  # 10 out, 10 in
        measure(emulator, "hosts update, +10 -10", 5, lambda: cloud.update_hosts("web", REGION, swapped))
        measure(emulator, "ports change (same IP)", 16,
                lambda: cloud.ensure_load_balancer("web", REGION, [8080], swapped, owner=WEB))
        measure(emulator, "delete", 18, lambda: cloud.ensure_load_balancer_deleted("web", REGION, owner_uid=WEB.uid))
        measure(emulator, "delete again, nothing there", 6,
                lambda: cloud.ensure_load_balancer_deleted("web", REGION, owner_uid=WEB.uid))
        # 200 in the insert, then 2,300 in three addInstance chunks: 13 + 3 x 2.
        measure(emulator, "create, 2,500 hosts", 19,
                lambda: cloud.ensure_load_balancer("big", REGION, [80], hosts, owner=BIG))
        measure(emulator, "hosts update, 2,500 -> 100", 1 + 3 * 2, lambda: cloud.update_hosts("big", REGION, hosts[:100]))
        measure(emulator, "delete, 100 hosts", 18, lambda: cloud.ensure_load_balancer_deleted("big", REGION, owner_uid=BIG.uid))
        left = {k: len(v) for k, v in emulator.state.dump()["resources"].items() if k != "instances" and v}
        print(f"\nresources left after the deletes: {left or 'none'}")
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
