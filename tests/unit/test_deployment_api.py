"""The Deployment's validation (Kubernetes' messages) and the pod-template-hash."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from functions.api.deployment import parse_deployment
from functions.api.podtemplatehash import (
    HASH_LABEL,
    equal_ignore_hash,
    fnv32a,
    pod_template_hash,
    safe_encode,
    with_hash,
)
from tests.unit.deployment_sim import deployment, template


def errors(**spec: Any) -> list[str]:
    doc = deployment()
    doc["spec"].update(spec)
    return parse_deployment(doc, "default", "web").errors


def test_a_plain_deployment_is_valid_with_kubernetes_defaults() -> None:
    parsed = parse_deployment(deployment(), "default", "web")
    assert parsed.obj is not None and parsed.errors == []
    spec = parsed.obj.spec
    assert spec.strategy.type == "RollingUpdate"
    assert spec.strategy.rolling_update is not None
    assert (spec.strategy.rolling_update.max_surge, spec.strategy.rolling_update.max_unavailable) == ("25%", "25%")
    assert (spec.min_ready_seconds, spec.revision_history_limit, spec.progress_deadline_seconds, spec.paused) == (0, 10, 600, False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}},
         "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"),
        ({"strategy": {"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}}},
         "may not be 0 when `maxSurge` is 0"),
        ({"strategy": {"rollingUpdate": {"maxUnavailable": "110%"}}}, "must not be greater than 100%"),
        ({"strategy": {"rollingUpdate": {"maxSurge": "20Percent"}}}, "a valid percent string must be"),
        ({"strategy": {"rollingUpdate": {"maxSurge": -1}}}, "must be greater than or equal to 0"),
        ({"strategy": {"rollingUpdate": {"maxSurge": 2**62}}}, "must be no more than 2147483647"),
        ({"strategy": {"rollingUpdate": {"maxSurge": "9" * 400 + "%"}}}, "must be no more than 2147483647%"),
        ({"strategy": {"rollingUpdate": {"maxUnavailable": 2**31}}}, "must be no more than 2147483647"),
        ({"minReadySeconds": 2**40}, "spec.minReadySeconds"),
        ({"revisionHistoryLimit": 2**40}, "spec.revisionHistoryLimit"),
        ({"progressDeadlineSeconds": 2**40}, "spec.progressDeadlineSeconds"),
        ({"strategy": {"type": "Recreate", "rollingUpdate": {}}},
         "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"),
        ({"strategy": {"type": "BlueGreen"}}, 'spec.strategy.type: Unsupported value: "BlueGreen"'),
        ({"selector": None}, "spec.selector"),
        ({"selector": {}}, "empty selector is invalid for deployment"),
        ({"selector": {"matchLabels": {"app": "other"}}}, "`selector` does not match template `labels`"),
        ({"progressDeadlineSeconds": 10, "minReadySeconds": 10},
         "spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds"),
        ({"revisionHistoryLimit": -1}, "spec.revisionHistoryLimit"),
        ({"replicas": -1}, "spec.replicas"),
        ({"paused": "yes"}, "spec.paused"),
        ({"template": {**template(), "spec": {**template()["spec"], "restartPolicy": "Never"}}},
         'restartPolicy: Unsupported value: "Never": supported values: "Always"'),
    ],
)
def test_invalid_specs_say_what_kubernetes_says(spec: dict[str, Any], message: str) -> None:
    found = errors(**spec)
    assert any(message in e for e in found), found


def test_an_empty_strategy_type_defaults_to_rolling_update() -> None:
    doc = deployment()
    doc["spec"]["strategy"] = {"type": ""}
    parsed = parse_deployment(doc, "default", "web")
    assert parsed.obj is not None, parsed.errors
    assert parsed.obj.spec.strategy.type == "RollingUpdate" and parsed.obj.spec.max_surge() == 1


def test_a_huge_percentage_is_refused_without_a_huge_number() -> None:
    found = errors(strategy={"rollingUpdate": {"maxSurge": "9" * 400 + "%"}})
    assert found and all(len(e) < 300 for e in found), found


def test_selector_without_the_key_at_all_is_required() -> None:
    doc = deployment()
    del doc["spec"]["selector"]
    assert parse_deployment(doc, "default", "web").errors == ["spec.selector: Required value"]


def test_match_expressions_select_the_template() -> None:
    assert errors(selector={"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}) == []
    assert errors(selector={"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]})


def test_the_document_must_be_an_apps_v1_deployment_named_as_its_id() -> None:
    doc = deployment()
    doc["apiVersion"] = "v1"
    assert "apiVersion" in parse_deployment(doc, "default", "web").errors[0]
    assert "does not match the document id" in parse_deployment(deployment(), "default", "api").errors[0]
    assert parse_deployment("junk", "default", "web").errors == ["(document): must be a map, not str"]
    long = "a" * 24
    assert any("at most 23" in e for e in parse_deployment(deployment(name=long), "default", long).errors)


def test_the_replica_cap_applies() -> None:
    assert "FIRECONTROL_MAX_REPLICAS" in parse_deployment(deployment(replicas=101), "default", "web", 100).errors[0]


def test_fnv32a_and_safe_encoding_are_kubernetes() -> None:
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert fnv32a(b"foobar") == 0xBF9CF968
    # the digits' codes 48..57 modulo 27 are 21..26, 0..3 in "bcdfghjklmnpqrstvwxz2456789"
    assert safe_encode("0123456789") == "456789bcdf"


def test_the_hash_is_of_the_canonical_template_and_the_collision_count() -> None:
    a = template()
    b = {"spec": a["spec"], "metadata": {"labels": {"app": "web"}}}  # the same, keys reordered
    assert pod_template_hash(a) == pod_template_hash(b)
    assert pod_template_hash(a) != pod_template_hash(template("nginx:2"))
    assert pod_template_hash(a, 0) != pod_template_hash(a)  # a set count, even 0, is hashed
    assert pod_template_hash(a, 1) != pod_template_hash(a, 0)
    value = pod_template_hash(a)
    assert set(value) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(value) <= 10


def test_templates_compare_equal_ignoring_the_hash_label_and_empty_fields() -> None:
    a = template()
    assert equal_ignore_hash(with_hash(a, "abc"), a)
    assert equal_ignore_hash(with_hash(a, "abc"), with_hash(a, "xyz"))
    b = copy.deepcopy(a)
    b["metadata"]["annotations"] = {}
    b["spec"]["volumes"] = []
    assert equal_ignore_hash(a, b)
    assert not equal_ignore_hash(a, template("nginx:2"))
    assert with_hash(a, "h")["metadata"]["labels"] == {"app": "web", HASH_LABEL: "h"}
    assert a["metadata"]["labels"] == {"app": "web"}  # copies, the original untouched
