"""Pure policies, no network: resource names, host diffs, chunks, error translation, registry."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from functions.cloudprovider import (
    PROVIDERS,
    GceConfig,
    InvalidRequestError,
    UnknownProviderError,
    build_provider,
)
from functions.cloudprovider.hosts import HostChange, chunks, diff_hosts, instance_ref
from functions.cloudprovider.names import description, is_valid, prefix, resource_name


def test_names_carry_the_cluster_prefix() -> None:
    assert resource_name("fc", "web") == "fc-web"
    assert resource_name("firecontrol", "default-web") == "firecontrol-default-web"
    assert prefix("fc") == "fc-"


def test_long_names_are_cut_with_a_hash_deterministically() -> None:
    long = "service-" + "x" * 80
    name = resource_name("firecontrol", long)
    assert len(name) == 63 and is_valid(name) and name.startswith("firecontrol-service-x")
    assert name == resource_name("firecontrol", long)
    assert name != resource_name("firecontrol", long + "y")
    assert is_valid(resource_name("c", "a-" + "-" * 70 + "b"))  # never ends on a dash


@pytest.mark.parametrize("bad", ["", "Web", "web_1", "web-", "-web", "a/b", "x" * 254])
def test_bad_load_balancer_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidRequestError, match="load balancer name"):
        resource_name("fc", bad)


def test_description_names_the_owner() -> None:
    assert description("fc", "web") == '{"firecontrol.cluster": "fc", "firecontrol.loadBalancer": "web"}'


def test_instance_refs_from_names_partials_and_urls() -> None:
    assert instance_ref("vm", "z-a") == "zones/z-a/instances/vm"
    assert instance_ref("zones/b/instances/vm", "z-a") == "zones/b/instances/vm"
    assert instance_ref("https://x/compute/v1/projects/p/zones/b/instances/vm", "z-a") == "zones/b/instances/vm"
    with pytest.raises(ValueError):
        instance_ref("regions/r/targetPools/p", "z-a")


def test_diff_adds_and_removes_the_difference() -> None:
    current = ["http://h/compute/v1/projects/p/zones/z/instances/a", "http://h/compute/v1/projects/p/zones/z/instances/b"]
    change = diff_hosts(current, ["b", "c", "c"], "z")
    assert change == HostChange(add=("zones/z/instances/c",), remove=("zones/z/instances/a",))
    assert diff_hosts(current, ["a", "b"], "z").empty


def test_chunks_are_at_most_the_size() -> None:
    items = [str(i) for i in range(2500)]
    parts = chunks(items)
    assert [len(p) for p in parts] == [1000, 1000, 500]
    assert [x for p in parts for x in p] == items
    assert chunks([], 10) == []


@dataclass(frozen=True)
class Settings:
    project: str = "p"
    region: str = "us-central1"
    zone: str = "us-central1-a"
    cluster: str = "firecontrol"
    compute_api_endpoint: str | None = "http://127.0.0.1:9"


def test_unknown_provider_lists_the_supported_ones() -> None:
    with pytest.raises(UnknownProviderError, match=r"unknown cloud provider 'aws'.*supported: gce"):
        build_provider("aws", Settings())
    assert list(PROVIDERS) == ["gce"]


def test_build_gce_from_settings() -> None:
    provider = build_provider("gce", Settings())
    assert provider.name == "gce"
    assert provider.get_zone().region == "us-central1"


def test_bad_cluster_name_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="FIRECONTROL_CLUSTER"):
        GceConfig(project="p", cluster="Bad_Cluster")


def test_importing_the_package_does_not_import_the_compute_client() -> None:
    code = "import sys, functions.cloudprovider; print('google.cloud.compute_v1' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
