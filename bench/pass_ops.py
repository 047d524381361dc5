"""Firestore reads and writes per sync pass, beside the minimum each pass needs.

The minimum: a pass must read the controller and every pod it counts (one read per
document, at least one per query), and write each pod it creates or deletes; when
anything changes it must write the controller's status. Our extra: one event
document per pass that creates or deletes (a Kubernetes Event), in the same commit.
Run: ``.venv/bin/python bench/pass_ops.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.firestore import FirestoreEmulator


def main() -> None:
    import os

    emulator = FirestoreEmulator().start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    try:
        from functions.config import Settings
        from functions.controllers.replication import sync_controller
        from functions.store import Store

        settings = Settings(project="bench-ops", slow_start=False)  # pods only, no VMs
        store = Store.for_project(settings.project)
        path = "namespaces/default/replicationControllers/web"

        def rc(replicas: int) -> dict[str, object]:
            return {
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": replicas, "selector": {"app": "web"},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
                },
            }

        def measure(label: str, before: Callable[[], None], minimum: dict[str, int]) -> None:
            before()
            start = store.ops.snapshot()
            sync_controller(store, settings, "default", "web", lambda: datetime.now(UTC))
            end = store.ops.snapshot()
            used = {k: end[k] - start[k] for k in ("reads", "writes", "deletes", "commits")}
            print(
                f"{label:<26} reads {used['reads']:>3} (min {minimum['reads']:>3})   "
                f"writes {used['writes']:>3} (min {minimum['writes']:>3})   "
                f"deletes {used['deletes']:>3} (min {minimum['deletes']:>3})   commits {used['commits']}"
            )

        print("Firestore operations per sync pass (N = 10)")
        measure("create 0 -> 10", lambda: store.client.document(path).set(rc(10)),
                {"reads": 2, "writes": 11, "deletes": 0})
        measure("idle (10 pods, no change)", lambda: None, {"reads": 11, "writes": 0, "deletes": 0})
        measure("scale 10 -> 5", lambda: store.client.document(path).update({"spec.replicas": 5}),
                {"reads": 11, "writes": 1, "deletes": 5})
        measure("scale 5 -> 10", lambda: store.client.document(path).update({"spec.replicas": 10}),
                {"reads": 6, "writes": 6, "deletes": 0})
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
