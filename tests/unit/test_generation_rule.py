"""``next_generation`` (docs/kube-api.md §3): one spec change, one generation, whoever wrote it."""

from __future__ import annotations

import pytest

from functions.api.controller import next_generation


@pytest.mark.parametrize(
    ("current", "observed", "moved", "expected"),
    [
        (None, None, True, 1),  # a Firestore client's new document: the first generation
        (1, None, True, 1),  # kube_api's create (generation 1): kept
        (1, 1, True, 2),  # a Firestore client changed the spec without bumping
        (2, 1, True, 2),  # kube_api bumped: kept, not doubled
        (4, 1, True, 4),  # several kube_api updates before a pass: kept
        (1, 3, True, 4),  # a client wrote an older generation back: still ahead of observed
        (3, 3, False, 3),  # nothing moved: nothing advances
        (None, None, False, 1),
    ],
)
def test_next_generation(current: int | None, observed: int | None, moved: bool, expected: int) -> None:
    assert next_generation(current, observed, moved) == expected
