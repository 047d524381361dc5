"""The local stack: Firestore emulator with triggers, the router, one server per function.

``python main.py up`` runs it until Ctrl-C or SIGTERM, then stops every process it
started. The endpoints are printed and written to ``.firecontrol/local.json``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

from emulator.compute import ComputeEmulator
from emulator.firestore import EmulatorError, FirestoreEmulator
from emulator.functions import ROOT, FunctionServer
from emulator.router import TriggerRouter
from emulator.scheduler import SchedulerEmulator
from functions.scheduling import build_client, ensure_resync_job, resync_job_id

PROJECT = "firecontrol-local"
REGION = "us-central1"
# The installation, as on Google Cloud: every name carries the cluster, and its documents
# live in its own database (FIRECONTROL_CLUSTER, FIRECONTROL_DATABASE; the CLI reads the
# database from the state file).
CLUSTER = os.environ.get("FIRECONTROL_CLUSTER") or "firecontrol"
DATABASE = os.environ.get("FIRECONTROL_DATABASE") or "(default)"
# Where the endpoints are written (and the CLI reads them); logs go beside it.
STATE_FILE = Path(os.environ.get("FIRECONTROL_LOCAL_STATE") or ROOT / ".firecontrol" / "local.json")
# How fast the Scheduler emulator's clock runs: 30 fires a every-minute job every 2 s.
SCHEDULER_TIME_SCALE = float(os.environ.get("FIRECONTROL_SCHEDULER_TIME_SCALE") or 1.0)
DEFINITION = ROOT / "infra" / "functions.yaml"


def functions() -> list[dict[str, Any]]:
    """The functions and their triggers, from the one definition the deployment uses too."""
    loaded: list[dict[str, Any]] = yaml.safe_load(DEFINITION.read_text())["functions"]
    return loaded


def function_name(cluster: str, entry_point: str) -> str:
    """A function's name in an installation (its trigger's id here), as deploy.sh names it."""
    return f"{cluster}-{entry_point.replace('_', '-')}"


@contextmanager
def local_stack(
    project: str = PROJECT, logs: Path = STATE_FILE.parent / "logs", scheduler_time_scale: float = SCHEDULER_TIME_SCALE,
    cluster: str = CLUSTER, database: str = DATABASE,
) -> Iterator[dict[str, Any]]:
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        router = TriggerRouter().start()
        stack.callback(router.stop)
        firestore = FirestoreEmulator(functions_emulator=router.address, log_path=logs / "firestore.log").start()
        stack.callback(firestore.stop)
        compute = ComputeEmulator().start()
        stack.callback(compute.stop)
        env = {
            "FIRESTORE_EMULATOR_HOST": firestore.host,
            "GOOGLE_CLOUD_PROJECT": project,
            "COMPUTE_API_ENDPOINT": compute.url,
            "FIRECONTROL_CLUSTER": cluster,
            "FIRECONTROL_DATABASE": database,
        }
        endpoints: dict[str, Any] = {
            "project": project, "cluster": cluster, "database": database,
            "firestore": firestore.host, "compute": compute.url, "functions": {},
        }
        scheduler = SchedulerEmulator(time_scale=scheduler_time_scale).start()
        stack.callback(scheduler.stop)
        endpoints["scheduler"] = scheduler.url
        for function in functions():
            name, trigger = function["name"], function["trigger"]
            kind = "cloudevent" if trigger["type"] == "firestore" else "http"
            server = FunctionServer(name, kind, env, log_path=logs / f"{name}.log").start()
            stack.callback(server.stop)
            endpoints["functions"][name] = server.url
            if trigger["type"] == "firestore":
                # One trigger per installation, on its database only (Eventarc's database filter).
                trigger_id = function_name(cluster, name)
                router.route(project, trigger_id, server.url)
                firestore.register_trigger(project, trigger_id, trigger["document"], database)
            if function.get("schedule"):
                # The same code and client that create the job on Google Cloud.
                ensure_resync_job(
                    build_client(scheduler.url), project=project, region=REGION,
                    job_id=resync_job_id(cluster, name), uri=server.url,
                    schedule=function["schedule"],
                    service_account_email=f"{cluster}-scheduler@{project}.iam.gserviceaccount.com",
                )
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(json.dumps(endpoints, indent=2))
        try:
            yield endpoints
        finally:
            STATE_FILE.unlink(missing_ok=True)


def apply_demo(project: str, firestore_host: str, database: str = "(default)") -> None:
    os.environ["FIRESTORE_EMULATOR_HOST"] = firestore_host
    from google.cloud import firestore

    client = firestore.Client(project=project, database=database)
    collections = {"ReplicationController": "replicationControllers", "Service": "services"}
    for manifest in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(manifest.read_text()):
            collection = collections[doc["kind"]]
            client.document(f"namespaces/default/{collection}/{doc['metadata']['name']}").set(doc)


def show(project: str, stop: threading.Event, database: str = "(default)") -> None:
    """A live table of controllers and pods until stopped."""
    from google.cloud import firestore
    from rich.live import Live
    from rich.table import Table

    client = firestore.Client(project=project, database=database)

    def table() -> Table:
        grid = Table(title=f"firecontrol local · project {project}")
        for column in ("KIND", "NAME", "DESIRED", "CURRENT", "STATUS"):
            grid.add_column(column)
        for snap in client.collection_group("replicationControllers").stream():
            data = snap.to_dict() or {}
            spec, status = data.get("spec") or {}, data.get("status") or {}
            failure = next((c.get("message") for c in status.get("conditions", []) if c.get("type") == "ReplicaFailure"), "")
            grid.add_row("rc", snap.id, str(spec.get("replicas", "")), str(status.get("replicas", 0)), failure or "ok")
        for snap in client.collection_group("services").stream():
            data = snap.to_dict() or {}
            status = data.get("status") or {}
            ips = [i.get("ip") for i in (status.get("loadBalancer") or {}).get("ingress", [])]
            ready: dict[str, Any] = next(
                (c for c in status.get("conditions", []) if c.get("type") == "LoadBalancerReady"), {}
            )
            grid.add_row("svc", snap.id, "", ", ".join(ips) or "<pending>", str(ready.get("message") or ""))
        for snap in client.collection_group("pods").stream():
            data = snap.to_dict() or {}
            grid.add_row("pod", snap.id, "", "", str((data.get("status") or {}).get("phase", "")))
        return grid

    with Live(table(), refresh_per_second=2) as live:
        while not stop.wait(0.5):
            live.update(table())


def up(demo: bool = False) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with local_stack() as endpoints:
            print(json.dumps(endpoints, indent=2))
            print(f"endpoints written to {STATE_FILE}; Ctrl-C stops everything", flush=True)
            if demo:
                apply_demo(endpoints["project"], endpoints["firestore"], endpoints["database"])
                show(endpoints["project"], stop, endpoints["database"])
            else:
                while not stop.wait(1):
                    time.sleep(0)
    except EmulatorError as error:
        # Everything started so far was stopped on the way out of the stack.
        print(f"firecontrol up: cannot start the local stack: {error}", file=sys.stderr)
        return 2
    print("stopped")
    return 0
