"""The Terraform module, parsed with python-hcl2, against infra/functions.yaml and the
least-privilege table; and checkov's static security scan of it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.spec import (
    Installation,
    Spec,
    database_condition,
    load,
    runtime_roles,
    source_files,
    source_hash,
)
from tests.infra.support import INFRA, ROOT, TERRAFORM, comments, module, resources

ENVIRONMENT = {
    "GOOGLE_CLOUD_PROJECT": "${var.project}",
    "FIRECONTROL_REGION": "${var.region}",
    "FIRECONTROL_ZONE": "${var.zone}",
    "FIRECONTROL_CLUSTER": "${var.cluster_name}",
    "FIRECONTROL_DATABASE": "${local.database}",
    "FIRECONTROL_MAX_REPLICAS": "${tostring(var.max_replicas)}",
    "FIRECONTROL_EXTERNAL_IPS": "${tostring(var.external_ips)}",
    "FIRECONTROL_POD_SERVICE_ACCOUNT": "${local.pods_service_account}",
    "FIRECONTROL_POD_STATUS_URL": "${local.pod_status_url}",
    "FIRECONTROL_AGENT_HEARTBEAT": "${tostring(var.agent_heartbeat)}",
    "FIRECONTROL_HEARTBEAT_TIMEOUT": "${tostring(var.heartbeat_timeout)}",
    "FIRECONTROL_EVICTION_TIMEOUT": "${tostring(var.eviction_timeout)}",
    "CLOUD_PROVIDER": "gce",
}
# The security table of infra/README.md: unconditional project-level roles per service
# account (the runtime's are all conditioned, the pods' account has none).
PROJECT_ROLES = {
    "trigger": {"roles/eventarc.eventReceiver"},
    "build": {"roles/logging.logWriter", "roles/artifactregistry.writer"},
}


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load()


def _one(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(blocks) == 1, blocks
    return blocks[0]


def test_the_module_reads_functions_yaml_and_nothing_else_defines_functions(spec: Spec) -> None:
    local = module()["locals"]
    assert local["spec"] == '${yamldecode(file("${path.module}/../functions.yaml"))}'
    assert local["functions"] == "${{for f in local.spec.functions : f.name => f}}"
    assert "f.trigger.type == \"firestore\"" in local["firestore_functions"]
    assert "f.trigger.type == \"http\"" in local["scheduled_functions"]
    assert 'f.invoker, null) == "scheduler"' in local["scheduled_functions"]
    assert 'f.invoker, null) == "pods"' in local["pod_functions"]
    assert 'f.invoker, null) == "users"' in local["user_functions"]
    assert list(resources("google_cloudfunctions2_function")) == ["function"]
    assert resources("google_cloudfunctions2_function")["function"]["for_each"] == "${local.functions}"


def test_each_function_takes_entry_point_name_size_and_runtime_from_the_spec() -> None:
    function = resources("google_cloudfunctions2_function")["function"]
    build = _one(function["build_config"])
    service = _one(function["service_config"])
    assert function["name"] == '${var.cluster_name}-${replace(each.key, "_", "-")}'
    assert function["location"] == "${var.region}"
    assert build["entry_point"] == "${each.key}"
    assert build["runtime"] == "${local.spec.runtime}"
    assert build["service_account"] == "${google_service_account.build.id}"
    storage = _one(_one(build["source"])["storage_source"])
    assert storage == {"bucket": "${google_storage_bucket.source.name}",
                       "object": "${google_storage_bucket_object.source.name}"}
    assert service["available_memory"] == "${each.value.memory}"
    assert service["timeout_seconds"] == "${each.value.timeout}"
    assert service["max_instance_count"] == "${each.value.max_instances}"
    assert service["service_account_email"] == '${local.service_account_emails[try(each.value.runs_as, "runtime")]}'
    assert service["environment_variables"] == "${local.environment}"
    # Internal-only, but the users' functions (kube_api: kubectl runs anywhere); IAM
    # checks every caller either way (test_invocation_is_granted_per_function_never_publicly).
    assert service["ingress_settings"] == (
        '${try(each.value.invoker, null) == "users" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"}')


def test_every_function_gets_the_environment_the_code_reads() -> None:
    assert module()["locals"]["environment"] == ENVIRONMENT
    config = (ROOT / "functions" / "config.py").read_text()
    for name in set(ENVIRONMENT) - {"GOOGLE_CLOUD_PROJECT"}:
        assert f'"{name}"' in config, f"functions/config.py does not read {name}"


def test_firestore_functions_get_a_path_pattern_trigger_with_retries(spec: Spec) -> None:
    function = resources("google_cloudfunctions2_function")["function"]
    dynamic = _one(function["dynamic"])["event_trigger"]
    assert dynamic["for_each"] == '${each.value.trigger.type == "firestore" ? [each.value.trigger] : []}'
    trigger = _one(dynamic["content"])
    assert trigger["event_type"] == "${event_trigger.value.event}"
    assert trigger["retry_policy"] == '${event_trigger.value.retry ? "RETRY_POLICY_RETRY" : "RETRY_POLICY_DO_NOT_RETRY"}'
    assert trigger["service_account_email"] == "${google_service_account.trigger.email}"
    assert trigger["trigger_region"] == "${local.firestore_location}"
    filters = {f["attribute"]: f for f in trigger["event_filters"]}
    assert filters["database"] == {"attribute": "database", "value": "${google_firestore_database.main.name}"}
    assert resources("google_firestore_database")["main"]["name"] == "${local.database}"
    assert filters["document"] == {"attribute": "document", "value": "${event_trigger.value.document}",
                                   "operator": "match-path-pattern"}
    # ...which, applied to the spec, gives each Firestore function its own pattern, retried.
    for f in spec.functions:
        if f.trigger_type == "firestore":
            assert f.event == "google.cloud.firestore.document.v1.written"
            assert f.retry is True
            assert re.fullmatch(r"namespaces/\{namespace\}/\w+/\{name\}", f.document or ""), f.document


def test_the_firestore_database_is_native_with_a_ttl_policy_on_events() -> None:
    database = resources("google_firestore_database")["main"]
    assert database["name"] == "${local.database}"
    assert module()["locals"]["database"] == "${coalesce(var.database, var.cluster_name)}"
    assert database["type"] == "FIRESTORE_NATIVE"
    assert database["location_id"] == "${local.firestore_location}"
    assert database["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    for name, group in (("events_ttl", "events"), ("leases_ttl", "leases"), ("heartbeats_ttl", "heartbeats")):
        ttl = resources("google_firestore_field")[name]
        assert (ttl["collection"], ttl["field"]) == (group, "expireAt")
        assert ttl["ttl_config"] == [{}]
    assert "google_firestore_index" not in module()["resource"], "the queries need no composite index (firestore.tf)"
    # Resync's query for silent pods across namespaces: renewTime in collection-group scope.
    renew = resources("google_firestore_field")["heartbeats_renew_time"]
    assert (renew["collection"], renew["field"]) == ("heartbeats", "renewTime")
    assert {"order": "ASCENDING", "query_scope": "COLLECTION_GROUP"} in _one(renew["index_config"])["indexes"]


def test_the_rules_file_is_released_for_the_database() -> None:
    ruleset = resources("google_firebaserules_ruleset")["firestore"]
    files = _one(_one(ruleset["source"])["files"])
    assert files["content"] == '${file("${path.module}/../firestore.rules")}'
    release = resources("google_firebaserules_release")["firestore"]
    assert release["name"] == "${local.rules_release}"
    assert module()["locals"]["rules_release"] == (
        '${local.database == "(default)" ? "cloud.firestore" : "cloud.firestore/${local.database}"}')
    assert "google_firebaserules_ruleset.firestore.name" in release["ruleset_name"]


def test_service_accounts_have_least_privilege_on_the_project() -> None:
    accounts = resources("google_service_account")
    assert set(accounts) == {"runtime", "status", "trigger", "scheduler", "build", "pods"}
    assert all(a["account_id"].startswith("${var.cluster_name}-") for a in accounts.values())
    roles = {account: set(r) for account, r in module()["locals"]["project_roles"].items()}
    assert roles == PROJECT_ROLES, "nothing unconditional for the runtime, nothing at all for the pods"
    bindings = resources("google_project_iam_member")
    assert set(bindings) == {"project_role", "runtime_role", "runtime_database", "status_database"}
    assert bindings["project_role"]["for_each"] == "${local.project_bindings}"
    # The runtime: Firestore on its database only...
    database = bindings["runtime_database"]
    assert database["role"] == "roles/datastore.user"
    assert database["member"] == "serviceAccount:${google_service_account.runtime.email}"
    assert _one(database["condition"])["expression"] == "${local.database_condition}"
    # ...pod_status's account the same database, and nothing of Compute...
    status = bindings["status_database"]
    assert status["role"] == "roles/datastore.user"
    assert status["member"] == "serviceAccount:${google_service_account.status.email}"
    assert _one(status["condition"])["expression"] == "${local.database_condition}"
    assert "google_service_account.status" not in json.dumps([bindings["runtime_role"], bindings["project_role"]])
    # ...and each custom role of infra/iam.yaml under its condition.
    custom = resources("google_project_iam_custom_role")
    assert set(custom) == {"runtime"} and custom["runtime"]["for_each"] == "${local.runtime_roles}"
    assert custom["runtime"]["permissions"] == "${each.value.permissions}"
    runtime = bindings["runtime_role"]
    assert runtime["for_each"] == "${local.runtime_roles}"
    assert runtime["role"] == "${google_project_iam_custom_role.runtime[each.key].id}"
    dynamic = _one(runtime["dynamic"])["condition"]
    assert dynamic["for_each"] == "${each.value.condition == null ? [] : [each.value.condition]}"
    assert _one(dynamic["content"])["expression"] == "${condition.value}"
    assert module()["locals"]["iam"] == '${yamldecode(file("${path.module}/../iam.yaml"))}'
    # The runtime may run VMs as the pods' account, and as no other.
    uses = resources("google_service_account_iam_member")
    assert set(uses) == {"runtime_uses_pods"}
    assert uses["runtime_uses_pods"]["service_account_id"] == "${google_service_account.pods.name}"
    assert uses["runtime_uses_pods"]["role"] == "roles/iam.serviceAccountUser"
    assert "roles/compute." not in json.dumps(module()["resource"]), "no predefined Compute role anywhere"


def test_every_name_carries_the_cluster() -> None:
    """Two installations in one project never share a name: functions, job, accounts,
    roles, router, NAT, bucket (and the database, named after the cluster unless set)."""
    named = {
        ("google_cloudfunctions2_function", "function", "name"),
        ("google_cloud_scheduler_job", "job", "name"),
        ("google_storage_bucket", "source", "name"),
        ("google_compute_router", "nat", "name"),
        ("google_compute_router_nat", "nat", "name"),
    } | {("google_service_account", a, "account_id") for a in resources("google_service_account")}
    for rtype, name, attribute in named:
        assert "${var.cluster_name}-" in resources(rtype)[name][attribute], (rtype, name)
    for role in module()["locals"]["runtime_roles"].splitlines():
        if "role_id" in role:
            assert "var.cluster_name" in role
    assert resources("google_compute_router_nat")["nat"]["router"] == "${google_compute_router.nat[0].name}"


def test_cloud_nat_unless_the_vms_have_external_ips() -> None:
    assert module()["locals"]["cloud_nat"] == "${var.cloud_nat && !var.external_ips}"
    router = resources("google_compute_router")["nat"]
    nat = resources("google_compute_router_nat")["nat"]
    assert router["count"] == nat["count"] == "${local.cloud_nat ? 1 : 0}"
    assert (router["region"], router["network"]) == ("${var.region}", "${var.network}")
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    assert nat["nat_ip_allocate_option"] == "AUTO_ONLY"
    assert {"external_ips", "cloud_nat", "network", "database"} <= set(module()["variable"])


def test_invocation_is_granted_per_function_never_publicly() -> None:
    invokers = resources("google_cloud_run_v2_service_iam_member")
    assert set(invokers) == {"trigger_invoker", "scheduler_invoker", "pods_invoker", "user_invoker"}
    # kube_api: the members of var.kube_api_invokers (none by default), on its service only.
    users = invokers.pop("user_invoker")
    assert users["for_each"] == "${local.user_invokers}"
    assert users["member"] == "${each.value.member}"
    assert users["role"] == "roles/run.invoker"
    assert users["name"] == "${google_cloudfunctions2_function.function[each.value.function].service_config[0].service}"
    assert "local.user_functions" in module()["locals"]["user_invokers"]
    assert "var.kube_api_invokers" in module()["locals"]["user_invokers"]
    variable = module()["variable"]["kube_api_invokers"]
    assert variable["default"] == [] and variable["type"] == "${list(string)}"
    assert "kind:id" in " ".join(comments(TERRAFORM / "variables.tf")), "the validation says why the public cannot pass"
    # The pods' VMs may invoke pod_status, and nothing else.
    assert invokers["pods_invoker"]["for_each"] == "${local.pod_functions}"
    assert invokers["pods_invoker"]["member"] == "serviceAccount:${google_service_account.pods.email}"
    assert invokers["trigger_invoker"]["for_each"] == "${local.firestore_functions}"
    assert invokers["trigger_invoker"]["member"] == "serviceAccount:${google_service_account.trigger.email}"
    assert invokers["scheduler_invoker"]["for_each"] == "${local.scheduled_functions}"
    assert invokers["scheduler_invoker"]["member"] == "serviceAccount:${google_service_account.scheduler.email}"
    for binding in invokers.values():
        assert binding["role"] == "roles/run.invoker"
        assert binding["name"] == "${google_cloudfunctions2_function.function[each.key].service_config[0].service}"
    everything = json.dumps(module())  # every block and value, comments left out
    assert "allUsers" not in everything and "allAuthenticatedUsers" not in everything
    assert "roles/run.invoker" not in json.dumps(resources("google_project_iam_member"))


def test_the_scheduler_calls_resync_with_an_oidc_token(spec: Spec) -> None:
    job = resources("google_cloud_scheduler_job")["job"]
    assert job["for_each"] == "${local.scheduled_functions}"
    assert "each.value.schedule" in job["schedule"] and "var.resync_schedule" in job["schedule"]
    assert job["attempt_deadline"] == "${each.value.timeout}s"
    target = _one(job["http_target"])
    uri = "${google_cloudfunctions2_function.function[each.key].service_config[0].uri}"
    assert target["uri"] == uri
    assert target["http_method"] == "POST"
    assert _one(target["oidc_token"]) == {
        "service_account_email": "${google_service_account.scheduler.email}", "audience": uri,
    }
    assert [f.name for f in spec.functions if f.schedule] == ["resync"]


def test_variables_and_outputs() -> None:
    assert set(module()["variable"]) >= {"project", "region", "zone", "cluster_name", "max_replicas", "resync_schedule"}
    assert set(module()["output"]) >= {"firestore_database", "source_bucket", "source_archive", "functions",
                                       "service_accounts", "scheduler_jobs", "pod_status_url", "kube_api_url"}
    assert module()["locals"]["kube_api_url"] == (
        "https://${var.cluster_name}-kube-api-${local.project_number}.${var.region}.run.app")
    assert {"agent_heartbeat", "heartbeat_timeout", "eviction_timeout"} <= set(module()["variable"])
    assert module()["locals"]["pod_status_url"] == (
        "https://${var.cluster_name}-pod-status-${local.project_number}.${var.region}.run.app")


def test_terraform_and_deploy_sh_enable_the_same_apis() -> None:
    apis = re.findall(r'"([a-z]+\.googleapis\.com)"', module()["locals"]["apis"])
    script = (INFRA / "deploy.sh").read_text()
    block = script[script.index("APIS=(") : script.index(")", script.index("APIS=("))]
    assert sorted(apis) == sorted(re.findall(r"[a-z]+\.googleapis\.com", block))
    assert len(apis) >= 10


def test_checkov_finds_nothing_and_every_skip_says_why() -> None:
    checkov = next((c for c in [ROOT / ".venv" / "checkov" / "bin" / "checkov"] if c.exists()), None)
    found = str(checkov) if checkov else shutil.which("checkov")
    assert found, "checkov is missing: python3 -m venv .venv/checkov && .venv/checkov/bin/pip install -r infra/requirements-checkov.txt"
    result = subprocess.run(
        [found, "-d", str(TERRAFORM), "--framework", "terraform", "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    report = json.loads(result.stdout)
    results = report["results"]
    assert results["failed_checks"] == [], [(c["check_id"], c["resource"]) for c in results["failed_checks"]]
    assert report["summary"]["passed"] >= 10, "checkov checked almost nothing: did it parse the module?"
    assert report["summary"]["skipped"] == len(results["skipped_checks"])
    for skipped in results["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, f"{skipped['check_id']} is skipped without a reason"
    skips = [c for p in TERRAFORM.glob("*.tf") for c in comments(p) if c.startswith("checkov:skip")]
    assert all(re.fullmatch(r"checkov:skip=CKV2?_\w+:.{20,}", s) for s in skips), skips


@pytest.mark.skipif(shutil.which("terraform") is None, reason="the terraform binary is not installed")
def test_terraform_itself_evaluates_the_spec_as_the_tests_and_deploy_sh_do(spec: Spec, tmp_path: Path) -> None:
    """Where terraform is installed: `terraform fmt`, and the module's locals evaluated by
    terraform console (no provider needed) give the functions, files and archive name
    infra/spec.py gives deploy.sh."""
    fmt = subprocess.run(["terraform", "fmt", "-check", "-diff", str(TERRAFORM)], capture_output=True, text=True, check=False)
    assert fmt.returncode == 0, fmt.stdout
    mirror = tmp_path / "infra" / "terraform"
    mirror.mkdir(parents=True)
    shutil.copy(TERRAFORM / "locals.tf", mirror)
    shutil.copy(TERRAFORM / "variables.tf", mirror)
    # project.tf reads the project's number through the provider: a stand-in here.
    (mirror / "project.tf").write_text('locals {\n  project_number = "123456789012"\n}\n')
    (tmp_path / "infra" / "functions.yaml").symlink_to(INFRA / "functions.yaml")
    (tmp_path / "infra" / "iam.yaml").symlink_to(INFRA / "iam.yaml")
    for name in ("main.py", "requirements.txt", "functions"):
        (tmp_path / name).symlink_to(ROOT / name)
    expression = ("jsonencode({functions = local.functions, files = local.source_files, hash = local.source_hash, "
                  "scheduled = keys(local.scheduled_functions), firestore = keys(local.firestore_functions), "
                  "roles = local.runtime_roles, database = local.database_condition, environment = local.environment, "
                  "pods = keys(local.pod_functions), users = keys(local.user_functions), "
                  "user_invokers = local.user_invokers, kube_api_url = local.kube_api_url})")
    variables = ["-var", "project=p", "-var", "cluster_name=blue1", "-var", "region=europe-west1",
                 "-var", 'kube_api_invokers=["user:me@example.com", "group:ops@example.com"]']
    result = subprocess.run(["terraform", "console", *variables], input=expression, cwd=mirror,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    evaluated = json.loads(json.loads(result.stdout.strip()))
    assert sorted(evaluated["functions"]) == sorted(spec.by_name())
    for name, f in spec.by_name().items():
        raw = evaluated["functions"][name]
        assert (raw["memory"], raw["timeout"], raw["trigger"].get("document")) == (f.memory, f.timeout, f.document)
    assert evaluated["firestore"] == sorted(n for n, f in spec.by_name().items() if f.trigger_type == "firestore")
    assert evaluated["scheduled"] == ["resync"]
    assert evaluated["pods"] == ["pod_status"]
    assert evaluated["users"] == ["kube_api"]
    assert evaluated["user_invokers"] == {
        f"kube_api {m}": {"function": "kube_api", "member": m} for m in ("user:me@example.com", "group:ops@example.com")}
    assert evaluated["kube_api_url"] == spec.by_name()["kube_api"].url("blue1", "123456789012", "europe-west1")
    assert evaluated["files"] == source_files(spec)
    assert evaluated["hash"] == source_hash(source_files(spec)), "Terraform and deploy.sh would name the archive differently"
    # The runtime's roles and conditions, and the environment, as deploy.sh gives them.
    where = Installation("p", "europe-west1", "blue1", "default", "blue1")
    assert evaluated["roles"] == {r.key: {"role_id": r.role_id, "title": r.title, "permissions": list(r.permissions),
                                          "condition": r.condition} for r in runtime_roles(where)}
    assert evaluated["database"] == database_condition(where) == 'resource.name == "projects/p/databases/blue1"'
    assert evaluated["environment"]["FIRECONTROL_DATABASE"] == "blue1"
    assert evaluated["environment"]["FIRECONTROL_POD_SERVICE_ACCOUNT"] == "blue1-pods@p.iam.gserviceaccount.com"
    # Where the agents report: the URL deploy.sh computes through spec.py, for the same number.
    assert evaluated["environment"]["FIRECONTROL_POD_STATUS_URL"] == spec.by_name()["pod_status"].url(
        "blue1", "123456789012", "europe-west1") == "https://blue1-pod-status-123456789012.europe-west1.run.app"
    assert {k: evaluated["environment"][k] for k in ("FIRECONTROL_AGENT_HEARTBEAT", "FIRECONTROL_HEARTBEAT_TIMEOUT",
                                                     "FIRECONTROL_EVICTION_TIMEOUT")} == {
        "FIRECONTROL_AGENT_HEARTBEAT": "60", "FIRECONTROL_HEARTBEAT_TIMEOUT": "180", "FIRECONTROL_EVICTION_TIMEOUT": "300"}
