"""functions/api/storable.py: what Firestore would refuse, the one rule of apply -f and kube_api."""

from __future__ import annotations

from datetime import UTC, date, datetime

from functions.api.storable import storage_problem


def test_what_firestore_stores_passes() -> None:
    assert storage_problem({"a": [1, "x", None, 1.5, True, b"b", datetime.now(UTC), {"b": -(2**63)}]}) is None


def test_each_refusal_names_its_path() -> None:
    assert storage_problem({"a": {"__x__": 1}}) == "a: key '__x__' is reserved by Firestore"
    assert storage_problem({"a": [2**64]}) == f"a[0]: {2**64} does not fit in 64 bits"
    assert storage_problem({"spec": {1: "x"}}) == "spec: key 1 must be non-empty text to be stored (quote it in YAML)"
    assert storage_problem({"": 1}) == "(document): key '' must be non-empty text to be stored"
    assert storage_problem({"spec": {"when": date(2024, 5, 1)}}) == (
        "spec.when: a date value cannot be stored; quote it in YAML to make it text")


def test_both_doors_use_it() -> None:
    from functions.cli import apply
    from functions.kubeapi import writes

    assert writes.storage_problem is storage_problem
    assert not hasattr(apply, "_storage_problem")
