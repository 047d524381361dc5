"""infra/functions.yaml, the one definition of the functions: valid, and main.py and
the local stack agree with it."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import pytest

from infra import spec as spec_module
from infra.spec import Spec, SpecError, build_archive, invoker_members, load, source_files
from tests.infra.support import ROOT

KINDS = {"firestore": "cloud_event", "http": "http"}
DOCUMENTS = {
    "sync_controller": "namespaces/{namespace}/replicationControllers/{name}",
    "sync_replicaset": "namespaces/{namespace}/replicaSets/{name}",
    "sync_deployment": "namespaces/{namespace}/deployments/{name}",
    "sync_pod": "namespaces/{namespace}/pods/{name}",
    "sync_service": "namespaces/{namespace}/services/{name}",
}


def _entry_points(path: Path) -> dict[str, str]:
    """Top-level functions of main.py decorated with functions_framework.<kind>."""
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if (isinstance(decorator, ast.Attribute) and isinstance(decorator.value, ast.Name)
                        and decorator.value.id == "functions_framework"):
                    found[node.name] = decorator.attr
    return found


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load()


def test_the_design_s_functions_and_triggers(spec: Spec) -> None:
    by_name = spec.by_name()
    assert {n: f.document for n, f in by_name.items() if f.trigger_type == "firestore"} == DOCUMENTS
    assert all(f.retry for f in spec.functions if f.trigger_type == "firestore")
    assert by_name["resync"].trigger_type == "http"
    assert by_name["resync"].schedule == "* * * * *"
    assert by_name["resync"].max_instances == 1, "two resync sweeps must never overlap"
    assert {f.cloud_name for f in spec.functions} == {"sync-controller", "sync-replicaset", "sync-deployment", "sync-pod",
                                                     "sync-service", "resync", "pod-status", "kube-api"}
    # The agents' reports: HTTP, invoked by the pods' VMs only, run as Firestore-only account.
    status = by_name["pod_status"]
    assert (status.trigger_type, status.schedule, status.invoker, status.runs_as) == ("http", None, "pods", "status")
    assert by_name["resync"].invoker == "scheduler"
    assert {f.runs_as for f in spec.functions if f.name != "pod_status"} == {"runtime"}
    # The Kubernetes API: HTTP, called by the users an installation names (kubectl, from
    # anywhere: its ingress is open, IAM checks the caller), as the runtime (Firestore, and
    # the VMs' serial ports for pods/log); a watch lasts 300 s, under its timeout.
    api = by_name["kube_api"]
    assert (api.trigger_type, api.schedule, api.invoker, api.runs_as, api.ingress) == (
        "http", None, "users", "runtime", "all")
    assert api.timeout == 540 and api.memory == "256Mi" and api.max_instances >= 10
    assert {f.ingress for f in spec.functions if f.name != "kube_api"} == {"internal-only"}
    assert api.url("blue", "42", "europe-west1") == "https://blue-kube-api-42.europe-west1.run.app"
    assert "functions/kubeapi/openapi/*.json" in spec.source, "kube_api serves its OpenAPI documents from the archive"
    assert status.url("blue", "42", "europe-west1") == "https://blue-pod-status-42.europe-west1.run.app"
    with pytest.raises(SpecError, match="not a number"):
        status.url("blue", "42.evil.example/x", "europe-west1")


@pytest.mark.parametrize("name", [f.name for f in load().functions])
def test_each_function_is_an_entry_point_of_the_right_kind_in_main_py(spec: Spec, name: str) -> None:
    entry_points = _entry_points(ROOT / "main.py")
    want = KINDS[spec.by_name()[name].trigger_type]
    assert name in entry_points, f"main.py has no @functions_framework entry point {name!r}; it has {sorted(entry_points)}"
    assert entry_points[name] == want, f"main.{name} is @functions_framework.{entry_points[name]}, want .{want}"


def test_main_py_has_no_entry_point_that_is_not_deployed(spec: Spec) -> None:
    assert set(_entry_points(ROOT / "main.py")) <= set(spec.by_name())


def test_the_local_stack_runs_the_same_functions_and_triggers(spec: Spec) -> None:
    from emulator import local

    assert local.DEFINITION.resolve() == spec_module.SPEC_PATH
    triggers = {f["name"]: (f["trigger"]["type"], f["trigger"].get("document"), f.get("schedule"))
                for f in local.functions()}
    assert triggers == {f.name: (f.trigger_type, f.document, f.schedule) for f in spec.functions}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("memory: 256Mi", "memory: 256MB", 1), "sync_controller.memory: '256MB'"),
        (lambda t: t.replace("timeout: 120", "timeout: 3600", 1), "sync_controller.timeout: 3600"),
        (lambda t: t.replace("type: firestore", "type: pubsub", 1), "sync_controller.trigger.type: 'pubsub'"),
        (lambda t: t.replace("retry: true", "retry: yes please", 1), "sync_controller.trigger.retry"),
        (lambda t: t.replace('schedule: "* * * * *"', 'schedule: "every minute"'), "resync.schedule"),
        (lambda t: t.replace("name: sync_pod", "name: sync_controller"), "appears twice"),
        (lambda t: t.replace("invoker: pods", "invoker: everyone"), "pod_status.invoker: 'everyone'"),
        (lambda t: t.replace("invoker: pods", "invoker: scheduler"), "pod_status.invoker: 'scheduler' without a schedule"),
        (lambda t: t.replace("invoker: scheduler", "invoker: pods"), "resync.invoker: 'pods' with a schedule"),
        (lambda t: t.replace("invoker: scheduler", "invoker: users"), "resync.invoker: 'users' with a schedule"),
        (lambda t: t.replace("invoker: users", "invoker: allUsers"), "kube_api.invoker: 'allUsers'"),
        (lambda t: t.replace("runs_as: status", "runs_as: owner"), "pod_status.runs_as: 'owner'"),
        (lambda t: t.replace("name: pod_status", "name: pod_report"), "no function pod_status"),
    ],
)
def test_a_bad_definition_is_refused_with_the_field_named(tmp_path: Path, edit: object, message: str) -> None:
    path = tmp_path / "functions.yaml"
    path.write_text(edit(spec_module.SPEC_PATH.read_text()))  # type: ignore[operator]
    with pytest.raises(SpecError, match=message.replace("*", r"\*").replace("(", r"\(")):
        load(path)


@pytest.mark.parametrize(
    ("text", "members"),
    [
        ("", []),
        ("user:me@example.com", ["user:me@example.com"]),
        (" user:me@example.com, group:ops@example.com ,serviceAccount:ci@p.iam.gserviceaccount.com",
         ["user:me@example.com", "group:ops@example.com", "serviceAccount:ci@p.iam.gserviceaccount.com"]),
        ("domain:example.com,principal://iam.googleapis.com/locations/global/workforcePools/p/subject/me",
         ["domain:example.com", "principal://iam.googleapis.com/locations/global/workforcePools/p/subject/me"]),
    ],
)
def test_the_kube_api_invokers_are_iam_members(text: str, members: list[str]) -> None:
    assert invoker_members(text) == members


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("allUsers", "would make the Kubernetes API public"),
        ("user:me@example.com,allAuthenticatedUsers", "would make the Kubernetes API public"),
        ("me@example.com", "'me@example.com' is not an IAM member"),
        ("user:me@example.com user:you@example.com", "is not an IAM member"),
        ("user:me@example.com,user:me@example.com", "appears twice"),
    ],
)
def test_a_public_or_malformed_invoker_is_refused(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        invoker_members(text)


def test_the_archive_holds_the_entry_points_and_the_package_only(spec: Spec, tmp_path: Path) -> None:
    files = source_files(spec)
    assert {"main.py", "requirements.txt", "functions/__init__.py", "functions/config.py"} <= set(files)
    assert not [f for f in files if f.startswith(("tests/", "emulator/", "infra/", "bench/")) or "__pycache__" in f]
    assert [f for f in files if f.startswith("functions/kubeapi/openapi/") and f.endswith(".json")], \
        "kube_api's OpenAPI documents are not uploaded"
    archive = build_archive(spec, tmp_path)
    with zipfile.ZipFile(archive) as opened:
        assert sorted(opened.namelist()) == files
        assert opened.read("main.py") == (ROOT / "main.py").read_bytes()


def test_the_archive_is_named_by_content_and_rebuilt_identically(spec: Spec, tmp_path: Path) -> None:
    for folder in ("a", "b", "c"):
        (tmp_path / folder).mkdir()
    first = build_archive(spec, tmp_path / "a")
    second = build_archive(spec, tmp_path / "b")
    assert first.name == second.name
    assert first.read_bytes() == second.read_bytes()
    # A change to any uploaded file changes the name (so both deploy paths redeploy).
    copy = tmp_path / "tree"
    for name in source_files(spec):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((ROOT / name).read_bytes())
    (copy / "functions" / "config.py").write_text((copy / "functions" / "config.py").read_text() + "\n# changed\n")
    assert build_archive(spec, tmp_path / "c", root=copy).name != first.name
