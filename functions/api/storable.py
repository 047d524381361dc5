"""What Firestore would refuse to store, said before a write is tried.

One rule for both doors that write user documents (``apply -f`` in the CLI and
``kube_api``'s writes), so a manifest one of them accepts the other accepts too, with
the same message (path first).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

MAX_INT = 2**63  # Firestore integers are signed 64-bit


def storage_problem(value: Any, path: str = "") -> str | None:
    """Why Firestore would refuse ``value``, or None: keys that are not text, empty or
    reserved (``__x__``); values it has no type for (a YAML date, a set); integers beyond
    64 bits. The first problem found, its path first."""
    where = path or "(document)"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where}: key {key!r:.40} must be non-empty text to be stored (quote it in YAML)"
            if not key:
                return f"{where}: key '' must be non-empty text to be stored"
            if key.startswith("__") and key.endswith("__"):
                return f"{where}: key {key!r:.40} is reserved by Firestore"
            problem = storage_problem(item, f"{path}.{key}" if path else key)
            if problem:
                return problem
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = storage_problem(item, f"{path}[{index}]")
            if problem:
                return problem
        return None
    if isinstance(value, bool) or value is None or isinstance(value, str | float | bytes | datetime):
        return None
    if isinstance(value, int):
        return None if -MAX_INT <= value < MAX_INT else f"{where}: {value} does not fit in 64 bits"
    return f"{where}: a {type(value).__name__} value cannot be stored; quote it in YAML to make it text"
