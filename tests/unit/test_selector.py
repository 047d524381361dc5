"""The apps/v1 LabelSelector: matching, Kubernetes' validation messages, kubectl's text."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from functions.api.base import error_messages
from functions.api.selector import LabelSelector, selector_text


def selector(doc: dict[str, object]) -> LabelSelector:
    return LabelSelector.model_validate(doc)


def problems(doc: dict[str, object]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        LabelSelector.model_validate(doc)
    return error_messages(caught.value, "spec.selector")


@pytest.mark.parametrize(
    ("expression", "labels", "expected"),
    [
        ({"key": "tier", "operator": "In", "values": ["a", "b"]}, {"tier": "a"}, True),
        ({"key": "tier", "operator": "In", "values": ["a", "b"]}, {"tier": "c"}, False),
        ({"key": "tier", "operator": "In", "values": ["a"]}, {}, False),
        ({"key": "tier", "operator": "NotIn", "values": ["a"]}, {"tier": "b"}, True),
        ({"key": "tier", "operator": "NotIn", "values": ["a"]}, {"tier": "a"}, False),
        ({"key": "tier", "operator": "NotIn", "values": ["a"]}, {}, True),
        ({"key": "tier", "operator": "Exists"}, {"tier": ""}, True),
        ({"key": "tier", "operator": "Exists"}, {"app": "x"}, False),
        ({"key": "tier", "operator": "DoesNotExist"}, {"app": "x"}, True),
        ({"key": "tier", "operator": "DoesNotExist"}, {"tier": "x"}, False),
    ],
)
def test_each_operator_matches_as_kubernetes(expression: dict[str, object], labels: dict[str, str], expected: bool) -> None:
    assert selector({"matchExpressions": [expression]}).matches(labels) is expected


def test_labels_and_expressions_must_all_hold() -> None:
    s = selector({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]})
    assert s.matches({"app": "web", "tier": "fe", "extra": "x"})
    assert not s.matches({"app": "web", "tier": "be"})
    assert not s.matches({"app": "db", "tier": "fe"})


def test_an_empty_selector_matches_nothing() -> None:
    assert not LabelSelector().matches({"app": "web"})
    assert LabelSelector().empty


def test_a_map_selector_is_match_labels() -> None:
    s = LabelSelector.of({"app": "web"})
    assert s.match_labels == {"app": "web"} and not s.match_expressions
    assert s.matches({"app": "web"}) and not s.matches({"app": "db"})
    assert LabelSelector.of(s) is s


def test_values_are_required_for_in_and_notin() -> None:
    assert problems({"matchExpressions": [{"key": "a", "operator": "In"}]}) == [
        "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
    ]
    assert problems({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]})[0].endswith(
        "must be specified when `operator` is 'In' or 'NotIn'"
    )


def test_values_are_forbidden_for_exists_and_doesnotexist() -> None:
    assert problems({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}) == [
        "spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
    ]


def test_an_unknown_operator_is_refused() -> None:
    assert problems({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}) == [
        'spec.selector.matchExpressions[0].operator: Invalid value: "Equals": not a valid selector operator'
    ]


@pytest.mark.parametrize(
    "doc",
    [
        {"matchLabels": {"bad key!": "x"}},
        {"matchLabels": {"app": "no spaces"}},
        {"matchExpressions": [{"key": "-bad", "operator": "Exists"}]},
        {"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "not ok"]}]},
        {"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]},
        {"matchExpressions": "app"},
        {"matchLabels": {"app": 3}},
    ],
)
def test_malformed_selectors_get_a_message(doc: dict[str, object]) -> None:
    found = problems(doc)
    assert found and all(p.startswith("spec.selector.") for p in found)


def test_text_is_kubectls_sorted_by_key() -> None:
    s = selector(
        {
            "matchLabels": {"tier": "fe", "app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "owner", "operator": "Exists"},
            ],
        }
    )
    assert s.text() == "app=web,!canary,env in (dev,prod),owner,tier=fe,zone notin (b)"
    assert str(s) == s.text()
    assert LabelSelector().text() == "<none>"
    assert selector_text({"app": "web"}) == "app=web"
    assert selector_text(None) == "<none>"
