"""The shared cell helpers: Kubernetes' HumanDuration (kube_api's Age) beside the CLI's
short age, timestamps stored or served, selectors and quota cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.api import columns

NOW = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-5), "<invalid>"),
        (timedelta(seconds=-1), "0s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=2), "2m"),
        (timedelta(minutes=5, seconds=30), "5m30s"),
        (timedelta(minutes=9, seconds=59), "9m59s"),
        (timedelta(minutes=10, seconds=30), "10m"),
        (timedelta(minutes=179), "179m"),
        (timedelta(hours=3), "3h"),
        (timedelta(hours=3, minutes=20), "3h20m"),
        (timedelta(hours=7, minutes=59), "7h59m"),
        (timedelta(hours=8, minutes=30), "8h"),
        (timedelta(hours=47), "47h"),
        (timedelta(days=2), "2d"),
        (timedelta(days=3, hours=4), "3d4h"),
        (timedelta(days=7, hours=23), "7d23h"),
        (timedelta(days=8, hours=5), "8d"),
        (timedelta(days=729), "729d"),
        (timedelta(days=730), "2y"),
        (timedelta(days=760), "2y30d"),
        (timedelta(days=365 * 8 + 10), "8y"),
    ],
)
def test_human_duration_is_kubernetes(delta: timedelta, text: str) -> None:
    assert columns.human_duration(delta) == text


def test_the_cli_keeps_its_short_age() -> None:
    assert columns.age(NOW - timedelta(minutes=5, seconds=30), NOW) == "5m"
    assert columns.age(None, NOW) == "<unknown>"


@pytest.mark.parametrize(
    "value", [NOW - timedelta(hours=3), "2025-02-28T21:00:00Z", (NOW - timedelta(hours=3)).replace(tzinfo=None)]
)
def test_since_reads_stored_and_served_times(value: object) -> None:
    assert columns.since(value, NOW) == "3h"


@pytest.mark.parametrize("value", [None, "", "yesterday", 5])
def test_since_without_a_time_is_unknown(value: object) -> None:
    assert columns.since(value, NOW) == "<unknown>"


def test_quota_columns_split_limits() -> None:
    request, limit = columns.quota_columns({"pods": "4", "limits.memory": "1Gi", "cpu": "2"}, {"pods": "1"})
    assert (request, limit) == ("cpu: 0/2, pods: 1/4", "limits.memory: 0/1Gi")


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ({"app": "web"}, "app=web"),
        ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["x"]}]},
         "app=web,t notin (x)"),
        ({"matchExpressions": [{"key": "t", "operator": "Bogus"}]}, "<invalid>"),
        (None, "<none>"),
    ],
)
def test_selector_text(raw: object, text: str) -> None:
    assert columns.selector(raw) == text


def test_containers_text() -> None:
    spec = {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}
    assert columns.containers_text(spec) == ("a,b", "x,y")
    assert columns.containers_text({}) == ("", "")
