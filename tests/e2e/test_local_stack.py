"""``python main.py up`` as a user runs it, driven only through the CLI.

Apply the demo, see every pod Running and the service's load balancer hold their VMs,
scale, watch the Scheduler's resync repair a VM lost behind our back, delete with
``--wait`` until nothing is left in the Compute emulator, then SIGTERM: no process of
the stack survives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    state = tmp_path / "local.json"
    env = {**os.environ, "FIRECONTROL_LOCAL_STATE": str(state), "FIRECONTROL_SCHEDULER_TIME_SCALE": "30"}
    env.pop("FIRESTORE_EMULATOR_HOST", None)
    env.pop("GOOGLE_CLOUD_PROJECT", None)
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "main.py", "up"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: state.exists() or process.poll() is not None, timeout=90, interval=0.2)
        assert process.poll() is None, (tmp_path / "up.log").read_text()
        endpoints = json.loads(state.read_text())
        yield {"process": process, "env": env, "endpoints": endpoints, "state": state, "log": tmp_path / "up.log"}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        log.close()


def cli(stack: dict[str, Any], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=stack["env"],
                          capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


def objects(stack: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    out = json.loads(cli(stack, "get", kind, "-o", "json").stdout)
    items: list[dict[str, Any]] = out["items"] if isinstance(out, dict) and "items" in out else out
    return items


def compute_state(stack: dict[str, Any]) -> dict[str, Any]:
    with urllib.request.urlopen(stack["endpoints"]["compute"] + "/emulator/state", timeout=10) as response:
        state: dict[str, Any] = json.load(response)["resources"]
        return state


def running(stack: dict[str, Any], n: int) -> bool:
    pods = [p for p in objects(stack, "pods") if p.get("status", {}).get("phase") == "Running"]
    vms = [i["name"] for i in compute_state(stack)["instances"] if i["status"] == "RUNNING"]
    pool = [u.rsplit("/", 1)[1] for p in compute_state(stack)["targetPools"] for u in p.get("instances", [])]
    nodes = sorted(p["spec"]["nodeName"] for p in pods)
    return len(pods) == n and nodes == sorted(vms) == sorted(pool)


def test_demo_lifecycle_through_the_cli(stack: dict[str, Any]) -> None:
    applied = cli(stack, "apply", "-f", "examples/")
    assert "replicationcontroller/web created" in applied.stdout and "service/web created" in applied.stdout
    wait_for(lambda: running(stack, 3), timeout=90, interval=0.5)
    [svc] = objects(stack, "svc")
    ip = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
    assert ip.startswith("203.0.113.")
    assert "web" in cli(stack, "get", "rc").stdout

    cli(stack, "scale", "rc", "web", "--replicas", "5")
    wait_for(lambda: running(stack, 5), timeout=90, interval=0.5)

    # A VM deleted behind our back: only the Scheduler's resync notices and repairs it.
    victim = compute_state(stack)["instances"][0]["name"]
    project = stack["endpoints"]["project"]
    request = urllib.request.Request(
        f"{stack['endpoints']['compute']}/emulator/projects/{project}/zones/us-central1-a/instances/{victim}",
        method="DELETE",
    )
    urllib.request.urlopen(request, timeout=10).close()
    wait_for(lambda: victim not in [i["name"] for i in compute_state(stack)["instances"]] and running(stack, 5),
             timeout=90, interval=0.5)
    with urllib.request.urlopen(stack["endpoints"]["scheduler"] + "/emulator/attempts", timeout=10) as response:
        attempts = json.load(response)["attempts"]
    assert any(a["statusCode"] == 200 and a["trigger"] for a in attempts), attempts  # it really fired resync

    cli(stack, "delete", "rc", "web", "--wait", "--timeout", "90")
    cli(stack, "delete", "svc", "web", "--wait", "--timeout", "90")
    left = compute_state(stack)
    assert all(items == [] for items in left.values()), left
    assert objects(stack, "pods") == [] and objects(stack, "svc") == []

    process: subprocess.Popen[bytes] = stack["process"]
    ports = [str(stack["endpoints"]["firestore"]).rsplit(":", 1)[1]] + [
        url.rstrip("/").rsplit(":", 1)[1] for url in stack["endpoints"]["functions"].values()
    ]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert not stack["state"].exists()
    time.sleep(0.5)
    pattern = "|".join(f"--port {p}( |$)" for p in ports)
    survivors = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True, text=True)
    assert survivors.returncode == 1, (survivors.returncode, survivors.stdout, survivors.stderr)  # 1: none matched


def test_up_without_gcloud_says_how_to_install_it(tmp_path: Path) -> None:
    """No Google Cloud CLI on PATH: a clear message and a non-zero exit, no traceback,
    nothing left running, no endpoints file."""
    state = tmp_path / "local.json"
    env = {**os.environ, "PATH": str(tmp_path), "FIRECONTROL_LOCAL_STATE": str(state)}
    env.pop("FIRESTORE_EMULATOR_LAUNCHER", None)
    done = subprocess.run([sys.executable, "main.py", "up"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "gcloud is not on PATH" in done.stderr and "cloud-firestore-emulator" in done.stderr
    assert "Traceback" not in done.stderr and not state.exists()


@pytest.fixture
def teal(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``python main.py up`` for an installation of its own: cluster teal, database teal-db."""
    state = tmp_path / "local.json"
    env = {**os.environ, "FIRECONTROL_LOCAL_STATE": str(state), "FIRECONTROL_SCHEDULER_TIME_SCALE": "30",
           "FIRECONTROL_CLUSTER": "teal", "FIRECONTROL_DATABASE": "teal-db"}
    env.pop("FIRESTORE_EMULATOR_HOST", None)
    env.pop("GOOGLE_CLOUD_PROJECT", None)
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "main.py", "up"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: state.exists() or process.poll() is not None, timeout=90, interval=0.2)
        assert process.poll() is None, (tmp_path / "up.log").read_text()
        yield {"process": process, "endpoints": json.loads(state.read_text())}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        log.close()


def test_the_local_stack_runs_an_installation_of_its_own(teal: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """FIRECONTROL_CLUSTER and FIRECONTROL_DATABASE reach the functions: a controller written
    to the installation's database gets VMs named for its cluster; the same document in the
    (default) database is heard by no function; the resync job carries the cluster."""
    endpoints = teal["endpoints"]
    assert (endpoints["cluster"], endpoints["database"]) == ("teal", "teal-db")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", endpoints["firestore"])
    from google.cloud import firestore

    from tests.helpers import rc_doc

    project = endpoints["project"]
    firestore.Client(project=project).document("namespaces/default/replicationControllers/other").set(rc_doc("other", 1))
    firestore.Client(project=project, database="teal-db").document(
        "namespaces/default/replicationControllers/web").set(rc_doc("web", 2))

    def vms() -> list[str]:
        with urllib.request.urlopen(endpoints["compute"] + "/emulator/state", timeout=10) as response:
            return sorted(i["name"] for i in json.load(response)["resources"]["instances"] if i["status"] == "RUNNING")

    found = wait_for(lambda: len(vms()) == 2 and vms(), timeout=90, interval=0.5)
    assert all(name.startswith("teal-") for name in found), found
    assert not list(firestore.Client(project=project).collection("namespaces/default/pods").stream())
    with urllib.request.urlopen(endpoints["scheduler"] + "/emulator/state", timeout=10) as response:
        jobs = [job["name"].rsplit("/", 1)[1] for job in json.load(response)["jobs"]]
    assert jobs == ["teal-resync"]
