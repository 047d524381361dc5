"""Cold start per entry point: import time, first invocation, and peak memory.

Each entry point runs in a fresh interpreter, as a new Cloud Run instance does:
import ``main`` (what the platform does at start), then one real invocation against
the Firestore emulator (which pulls in the entry point's lazy imports). Peak memory
is the process's maximum RSS; every function must fit the default 256 MiB.
Run: ``.venv/bin/python bench/cold_start.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emulator.firestore import FirestoreEmulator  # noqa: E402

PROBE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import main
t1 = time.perf_counter()
target = sys.argv[1]
if target == "resync":
    main.resync(None)
else:
    from cloudevents.http import CloudEvent
    body = open(sys.argv[2], "rb").read()
    main.sync_controller(CloudEvent({"type": "google.cloud.firestore.document.v1.written",
        "source": "bench", "subject": "documents/namespaces/default/replicationControllers/web"}, body))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_call_s": t2 - t1,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "compute_imported": "google.cloud.compute_v1" in sys.modules}))
"""

ENTRY_POINTS = ["sync_controller", "resync"]


def main() -> None:
    emulator = FirestoreEmulator().start()
    try:
        env = {**os.environ, "FIRESTORE_EMULATOR_HOST": emulator.host, "GOOGLE_CLOUD_PROJECT": "bench-cold"}
        body = ROOT / "tests" / "fixtures" / "event-created.b64"
        print(f"{'entry point':<18}{'import main':>12}{'first call':>12}{'peak RSS':>11}  compute_v1 imported")
        for target in ENTRY_POINTS:
            runs = []
            for _ in range(3):
                out = subprocess.run(
                    [sys.executable, "-c", PROBE, target, str(body)], cwd=ROOT, env=env,
                    capture_output=True, text=True, check=True,
                ).stdout.strip().splitlines()[-1]
                runs.append(json.loads(out))
            best = min(runs, key=lambda r: r["import_s"] + r["first_call_s"])
            print(
                f"{target:<18}{best['import_s'] * 1000:>10.0f}ms{best['first_call_s'] * 1000:>10.0f}ms"
                f"{best['peak_mib']:>8.0f}MiB  {best['compute_imported']}"
            )
        print("(best of 3 fresh interpreters; the default Cloud Functions instance has 256 MiB)")
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
