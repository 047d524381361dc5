"""A cluster name has no '-': the runtime's IAM conditions (infra/iam.yaml) admit names
starting with "{cluster}-", so a cluster "prod" would reach every resource of a cluster
"prod-eu" in the same project. Every place that takes a cluster name refuses one: the
provider's config (FIRECONTROL_CLUSTER), infra/spec.py, deploy.sh (--cluster) and the
Terraform variable (cluster_name)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from functions.cloudprovider.config import GceConfig
from functions.cloudprovider.errors import InvalidRequestError
from infra.spec import Installation, SpecError, runtime_roles
from infra.spec import main as spec_main
from tests.infra.support import INFRA, TERRAFORM, module
from tests.infra.test_deploy_sh import PROJECT, make_cloud

WITH_DASH = ["prod-eu", "a-b", "prod-", "blue-1", "fire-control"]
# Refused everywhere for other reasons, as before.
MALFORMED = ["Prod", "1prod", "prod_eu", "prod.eu", "prod eu", "", "prod\n"]
# 2 to 16 characters: what deploy.sh, the Terraform module and spec.py take.
GOOD = ["prod", "prodeu", "blue1", "p2", "firecontrol", "a" * 16]


@pytest.mark.parametrize("cluster", WITH_DASH + MALFORMED + ["a" * 21])
def test_the_provider_refuses_a_cluster_with_a_dash_naming_the_variable(cluster: str) -> None:
    with pytest.raises(InvalidRequestError, match=r"FIRECONTROL_CLUSTER=.*no '-'"):
        GceConfig(project="p", cluster=cluster)


@pytest.mark.parametrize("cluster", [*GOOD, "a", "a" * 20])
def test_the_provider_takes_letters_and_digits_up_to_20(cluster: str) -> None:
    assert GceConfig(project="p", cluster=cluster).cluster == cluster


@pytest.mark.parametrize("cluster", WITH_DASH + MALFORMED + ["a", "a" * 17])
def test_spec_py_renders_no_condition_for_a_cluster_with_a_dash(cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SpecError, match=r"cluster .*no '-'"):
        Installation("p", "us-central1", cluster, "default", "database")
    for command in ("roles", "database-condition"):
        assert spec_main([command, "p", "us-central1", cluster, "default", "database"]) == 2
        assert re.search(r"spec\.py: cluster .*no '-'", capsys.readouterr().err)


@pytest.mark.parametrize("cluster", GOOD)
def test_a_cluster_prefix_is_that_cluster_s_only(cluster: str) -> None:
    """With no '-' in any cluster name, "{cluster}-" begins no other cluster's names."""
    where = Installation("p", "us-central1", cluster, "default", "database")
    compute = next(r for r in runtime_roles(where) if r.key == "compute")
    assert compute.condition is not None and f"/{cluster}-" in compute.condition
    assert compute.role_id == f"firecontrolCompute_{cluster}"


def test_deploy_sh_refuses_a_cluster_with_a_dash_before_calling_anything(tmp_path: Path) -> None:
    cloud = make_cloud(tmp_path)
    for cluster in [c for c in WITH_DASH + MALFORMED + ["a", "a" * 17] if c]:  # "": "--cluster needs a value"
        result = subprocess.run(["bash", str(INFRA / "deploy.sh"), "--project", PROJECT, "--cluster", cluster, "--dry-run"],
                                env=cloud.env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 2, (cluster, result.stdout, result.stderr)
        assert "deploy.sh: --cluster:" in result.stderr and "no '-'" in result.stderr, (cluster, result.stderr)
        assert result.stdout == ""
    assert cloud.calls() == []


def test_deploy_sh_takes_letters_and_digits(tmp_path: Path) -> None:
    cloud = make_cloud(tmp_path)
    for cluster in ("prodeu", "a" * 16, "p2"):
        result = subprocess.run(["bash", str(INFRA / "deploy.sh"), "--project", PROJECT, "--cluster", cluster,
                                 "--database", "database", "--dry-run"],
                                env=cloud.env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, (cluster, result.stderr)
        assert f"{cluster}-runtime" in result.stdout


def _terraform_pattern() -> str:
    validations = module()["variable"]["cluster_name"]["validation"]
    assert len(validations) == 1, validations
    found = re.fullmatch(r'\$\{can\(regex\("(.+)", var\.cluster_name\)\)\}', validations[0]["condition"])
    assert found, validations[0]["condition"]
    assert "cluster_name:" in validations[0]["error_message"] and "no '-'" in validations[0]["error_message"]
    return found.group(1)


def test_the_terraform_variable_refuses_a_cluster_with_a_dash() -> None:
    """The validation's regex (RE2: '$' is the end of the text) applied as Terraform would."""
    pattern = re.compile(_terraform_pattern().removesuffix("$") + r"\Z")
    assert not [c for c in WITH_DASH + MALFORMED + ["a", "a" * 17] if pattern.search(c)]
    assert [c for c in GOOD if pattern.search(c)] == GOOD


@pytest.mark.skipif(shutil.which("terraform") is None, reason="the terraform binary is not installed")
def test_terraform_itself_refuses_a_cluster_with_a_dash(tmp_path: Path) -> None:
    """variables.tf alone (no provider to download): a plan stops at the validation."""
    shutil.copy(TERRAFORM / "variables.tf", tmp_path)
    binary = shutil.which("terraform")
    assert binary
    env = {**os.environ, "TF_DATA_DIR": str(tmp_path / ".terraform"), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}

    def terraform(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, *args, "-input=false", "-no-color"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    init = terraform("init", "-backend=false")
    assert init.returncode == 0, init.stderr
    refused = terraform("plan", "-var", "project=p", "-var", "cluster_name=prod-eu")
    assert refused.returncode == 1, refused.stdout
    assert "Invalid value for variable" in refused.stderr and "cluster_name:" in refused.stderr, refused.stderr
    taken = terraform("plan", "-var", "project=p", "-var", "cluster_name=prodeu")
    assert taken.returncode == 0, taken.stderr
