"""``apply -f examples/`` to every pod Running and the load balancer's IP assigned, on the local stack.

The whole local stack runs (Firestore emulator with triggers, trigger router, one
functions-framework server per function, Compute and Scheduler emulators); the
CLI applies the demo; the clock stops when all pods are Running and the service has
its IP. Then ``delete --wait`` clears it for the next run. Prints p50 over the runs.
Run: ``.venv/bin/python bench/apply_demo.py [runs]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["FIRECONTROL_LOCAL_STATE"] = str(Path(tempfile.mkdtemp(prefix="bench-apply-")) / "local.json")
os.environ.pop("GOOGLE_CLOUD_PROJECT", None)


def converged(client: object, replicas: int) -> bool:
    pods = [d.to_dict() or {} for d in client.collection("namespaces/default/pods").stream()]  # type: ignore[attr-defined]
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    svc = client.document("namespaces/default/services/web").get().to_dict() or {}  # type: ignore[attr-defined]
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return len(running) == replicas == len(pods) and bool(ingress)


def main(runs: int) -> None:
    from emulator.local import local_stack
    from functions.cli import main as cli

    os.chdir(ROOT)
    with local_stack() as endpoints:
        os.environ["FIRESTORE_EMULATOR_HOST"] = endpoints["firestore"]
        from google.cloud import firestore

        client = firestore.Client(project=endpoints["project"])
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            assert cli(["apply", "-f", "examples/"]) == 0
            while not converged(client, 3):
                if time.perf_counter() - start > 120:
                    raise TimeoutError("the demo did not converge in 120 s")
                time.sleep(0.05)
            times.append(time.perf_counter() - start)
            assert cli(["delete", "rc", "web", "--wait"]) == 0
            assert cli(["delete", "svc", "web", "--wait"]) == 0
    print(f"apply the demo (3 pods + a LoadBalancer service) -> all Running and IP assigned, {runs} runs:")
    print(f"  p50 {statistics.median(times):.2f} s   min {min(times):.2f} s   max {max(times):.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
