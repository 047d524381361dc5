"""``rolling-update`` end to end: the CLI drives, the real trigger path (the in-process
control plane on the Firestore and Compute emulators) makes and removes the pods."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from functions.pod_policy import PodInfo
from functions.runtime import Runtime
from functions.store import Doc, Store
from tests.cli.support import Cli, data, names
from tests.helpers import pods, rc_doc, wait_for, write_rc

RC = "namespaces/default/replicationControllers"
ROOT = Path(__file__).resolve().parents[2]


def ready_pods(store: Store, image: str | None = None) -> list[PodInfo]:
    """Ready pods not being deleted (of this image)."""
    found = []
    for snapshot in store.client.collection("namespaces/default/pods").stream():
        doc = Doc(snapshot.reference.path, snapshot.to_dict() or {}, snapshot.update_time, snapshot.create_time)
        pod = PodInfo.from_doc(doc)
        containers = (doc.data.get("spec") or {}).get("containers") or [{}]
        if pod.ready and not pod.being_deleted and image in (None, containers[0].get("image")):
            found.append(pod)
    return found


class Sampler:
    """Counts, throughout the update, the pods not being deleted and the ready ones."""

    def __init__(self, store: Store) -> None:
        self.store, self.stop = store, threading.Event()
        self.most_active, self.fewest_ready = 0, 99
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        while not self.stop.is_set():
            everything = pods(self.store)
            active = [p for p in everything if not p.being_deleted and p.phase not in ("Failed", "Succeeded")]
            self.most_active = max(self.most_active, len(active))
            self.fewest_ready = min(self.fewest_ready, len(ready_pods(self.store)))
            self.stop.wait(0.05)

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def test_rolling_update_one_pod_at_a_time(cli: Cli, store: Store, cluster: Runtime) -> None:
    write_rc(store, rc_doc("web", 2))
    wait_for(lambda: len(ready_pods(store, "nginx:1.27")) == 2, timeout=30)

    with Sampler(store) as sampler:
        result = cli("rolling-update", "web", "--image", "nginx:1.28", "--update-period", "200ms",
                     "--poll-interval", "100ms", "--timeout", "30s")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    new_name = lines[0].removeprefix("Created ")
    assert new_name.startswith("web-") and len(lines[0]) > len("Created web-")
    assert lines[1] == (f"Scaling up {new_name} from 0 to 2, scaling down web from 2 to 0 "
                        "(keep 2 pods available, don't exceed 3 pods)")
    assert f"Scaling {new_name} up to 1" in lines and "Scaling web down to 1" in lines
    assert f"Scaling {new_name} up to 2" in lines and "Scaling web down to 0" in lines
    assert lines[-3:] == ["Update succeeded. Deleting old controller: web", f"Renaming {new_name} to web",
                          "replicationcontroller/web rolling updated"]

    assert names(store, "replicationControllers") == ["web"]
    rc = data(store, f"{RC}/web") or {}
    assert rc["spec"]["replicas"] == 2
    assert rc["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert set(rc["spec"]["selector"]) == {"app", "deployment"}
    assert not [k for k in rc["metadata"].get("annotations", {}) if k.startswith("kubectl.kubernetes.io/")
                and k != "kubectl.kubernetes.io/original-replicas"]
    # The new pods stay and are adopted by the renamed controller; the old ones are gone.
    wait_for(lambda: len(ready_pods(store, "nginx:1.28")) == 2 and not ready_pods(store, "nginx:1.27"), timeout=30)
    wait_for(lambda: (data(store, f"{RC}/web") or {})["metadata"].get("uid") is not None, timeout=10)
    uid = (data(store, f"{RC}/web") or {})["metadata"]["uid"]
    wait_for(lambda: all((p.controller_ref() or {}).get("uid") == uid for p in ready_pods(store)), timeout=10)
    assert sampler.most_active <= 3  # replicas + maxSurge
    assert sampler.fewest_ready >= 2  # replicas - maxUnavailable


def test_rollback_of_an_interrupted_update(
    cli: Cli, store: Store, cluster: Runtime, project: str, firestore_emulator: Any,
) -> None:
    write_rc(store, rc_doc("web", 1))
    wait_for(lambda: len(ready_pods(store, "nginx:1.27")) == 1, timeout=30)
    # An update killed part way: the new controller scaled up, the old not yet down.
    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": firestore_emulator.host, "FIRECONTROL_LOCAL_STATE": "/nonexistent"}
    process = subprocess.Popen(
        [sys.executable, "-u", "main.py", "rolling-update", "web", "web-next", "--image", "nginx:1.28",
         "--update-period", "60s", "--poll-interval", "100ms", "--project", project],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.startswith("Scaling web-next up to 1"):
                break
        assert seen and seen[-1].startswith("Scaling web-next up to 1"), seen
        wait_for(lambda: (data(store, f"{RC}/web-next") or {})["spec"]["replicas"] == 1, timeout=10)
    finally:
        process.kill()
        process.wait()
    wait_for(lambda: len(ready_pods(store, "nginx:1.28")) == 1, timeout=30)
    assert sorted(names(store, "replicationControllers")) == ["web", "web-next"]

    back = cli("rolling-update", "web", "web-next", "--rollback", "--update-period", "100ms",
               "--poll-interval", "100ms", "--timeout", "30s")
    assert back.code == 0, back.err
    assert back.out.splitlines()[0] == 'Setting "web" replicas to 1'
    assert "Continuing update with existing controller web." in back.out
    assert back.out.splitlines()[-2:] == ["Update succeeded. Deleting web-next", "replicationcontroller/web rolling updated"]
    assert names(store, "replicationControllers") == ["web"]
    rc = data(store, f"{RC}/web") or {}
    assert rc["spec"]["replicas"] == 1
    assert rc["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    wait_for(lambda: len(ready_pods(store, "nginx:1.27")) == 1 and not ready_pods(store, "nginx:1.28"), timeout=30)


def test_usage_errors(cli: Cli, store: Store) -> None:
    assert cli("rolling-update", "web").code == 2
    both = cli("rolling-update", "web", "--image", "x", "-f", "y.yaml")
    assert both.code == 2 and "--filename and --image can not both be specified" in both.err
    assert "Don't specify --filename or --image on rollback" in cli("rolling-update", "web", "--rollback", "--image", "x").err
    missing = cli("rolling-update", "nope", "--image", "x")
    assert missing.code == 1 and 'replicationcontrollers "nope" not found' in missing.err
    assert cli("rolling-update", "web", "--image", "x", "--update-period", "soon").code == 2


def test_usage_line_names_at_most_two_controllers(run: Any) -> None:
    """``OLD_RC [NEW_RC]``, not argparse's ``OLD_RC [NEW_RC] [OLD_RC [NEW_RC] ...]``; a
    third name is a usage error (exit 2) even with no stack to connect to."""
    assert run("rolling-update", "--help").code == 0
    usage = " ".join(run("rolling-update", "--help").out.split())
    assert "[--rollback] OLD_RC [NEW_RC] replace" in usage
    assert "[OLD_RC" not in usage and "..." not in usage
    three = run("rolling-update", "web", "web-2", "web-3", "--image", "nginx:1.28")
    assert three.code == 2
    assert three.err.strip() == "error: expected OLD_RC [NEW_RC], not 3 names: web web-2 web-3"
