"""apply against bad input: a clear message naming file and document, exit 1, nothing written."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from functions.store import Store
from tests.cli.support import FIXTURES, Cli, Result, nothing_written


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bad-syntax.yaml", "bad-syntax.yaml: invalid YAML: line 7 column 12: mapping values are not allowed here"),
        ("bad-syntax.json", "bad-syntax.json: invalid JSON at line 1 column 63"),
        ("unknown-kind.yaml", "unknown-kind.yaml:1: kind 'StatefulSet' is not supported; supported kinds: ReplicationController, ReplicaSet, Deployment, Pod, Service"),
        ("invalid-spec.yaml", "invalid-spec.yaml:1 ReplicationController/web: spec.replicas: Input should be a valid integer, not str '3'"),
    ],
)
def test_bad_file_is_reported_and_nothing_written(cli: Cli, store: Store, name: str, expected: str) -> None:
    result = cli("apply", "-f", str(FIXTURES / name))
    assert result.code == 1
    assert expected in result.err
    assert "nothing was written" in result.err
    assert result.out == ""
    assert nothing_written(store)


def test_every_problem_of_the_spec_is_listed(cli: Cli, store: Store) -> None:
    result = cli("apply", "-f", str(FIXTURES / "invalid-spec.yaml"))
    assert "spec.replicas: Input should be a valid integer" in result.err
    assert "ReplicationController/web: spec.template.spec.containers[0].image: Field required" in result.err
    assert "(2 problem(s))" in result.err


def test_one_invalid_document_stops_the_valid_ones(cli: Cli, store: Store) -> None:
    result = cli("apply", "-f", str(FIXTURES / "mixed.yaml"), "-f", str(FIXTURES / "app.yaml"))
    assert result.code == 1
    problems = [line for line in result.err.splitlines() if "mixed.yaml:" in line]
    assert problems and all(line.startswith(f"{FIXTURES / 'mixed.yaml'}:2 Service/Bad_Name: ") for line in problems)
    assert any("selector: a LoadBalancer service needs a selector" in line for line in problems)
    assert any("Service name" in line for line in problems)
    assert nothing_written(store)


def test_problems_of_several_files_are_all_reported(cli: Cli, store: Store) -> None:
    result = cli("apply", "-f", str(FIXTURES / "bad-syntax.yaml"), "-f", str(FIXTURES / "unknown-kind.yaml"),
                 "-f", str(FIXTURES / "does-not-exist.yaml"))
    assert result.code == 1
    assert "invalid YAML" in result.err and "Deployment" in result.err
    assert "does-not-exist.yaml: no such file or folder" in result.err
    assert "(3 problem(s))" in result.err
    assert nothing_written(store)


def test_over_the_replica_cap(cli: Cli, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRECONTROL_MAX_REPLICAS", "2")
    result = cli("apply", "-f", str(FIXTURES / "app.yaml"))
    assert result.code == 1
    assert "ReplicationController/web: spec.replicas: 3 is over this installation's cap of 2" in result.err
    assert nothing_written(store)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- just\n- a list\n", ":1: a document must be a map, not list"),
        ("kind: Pod\nspec: {}\n", ":1 Pod: metadata.name is missing"),
        ("apiVersion: v1\nmetadata: {name: x}\n", ":1: kind is missing"),
        ("", "no documents found in -"),
    ],
)
def test_malformed_documents_from_stdin(cli: Cli, store: Store, text: str, expected: str) -> None:
    result = cli("apply", "-f", "-", stdin=text)
    assert result.code == 1
    assert expected in result.err
    assert nothing_written(store)


def test_same_object_twice(cli: Cli, store: Store) -> None:
    app = str(FIXTURES / "app.yaml")
    result = cli("apply", "-f", app, "-f", app)
    assert result.code == 1
    assert f"ReplicationController/web: defined twice in the input (first at {app}:1)" in result.err
    assert nothing_written(store)


def test_validation_happens_before_any_connection(run: Callable[..., Result]) -> None:
    """No --project and no local stack: the file's problems are still what is reported."""
    result = run("apply", "-f", str(FIXTURES / "invalid-spec.yaml"))
    assert result.code == 1
    assert "spec.replicas" in result.err and "local stack" not in result.err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  releaseDate: 2024-05-01\n", "spec.releaseDate: a date value cannot be stored; quote it in YAML"),
        ("  extra: {1: one}\n", "spec.extra: key 1 must be non-empty text"),
        ("  big: 99999999999999999999\n", "spec.big: 99999999999999999999 does not fit in 64 bits"),
    ],
)
def test_values_firestore_cannot_store(cli: Cli, store: Store, extra: str, expected: str) -> None:
    """Unknown fields are kept, so they must be storable: refused before anything is sent."""
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: ab, image: b}]\n" + extra
    result = cli("apply", "-f", "-", stdin=text)
    assert result.code == 1
    assert f"<stdin>:1 Pod/p: {expected}" in result.err
    assert nothing_written(store)
