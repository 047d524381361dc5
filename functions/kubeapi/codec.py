"""Request bodies decoded once for every verb: JSON (or YAML) in, a value out, a body
nested past what can be parsed or stored refused with a 400.

Every decoder of a client's bytes (create and update bodies, patches, ``DeleteOptions``,
a ``Scale``) goes through ``loads``: Python's parsers recurse, so ``[[[[...`` 200,000
deep is a ``RecursionError``, and Firestore keeps at most 20 levels of maps and arrays
in a document, so nothing deeper can be a stored object's part (Kubernetes' own schemas
nest at most 13 in a workload).
"""

from __future__ import annotations

import json
from typing import Any

from functions.kubeapi import status

MAX_DEPTH = 20  # Firestore: "maximum depth of fields in a map or array"


def depth(value: Any) -> int:
    """How many maps and arrays deep ``value`` is (a scalar: 0), without recursing; a
    node YAML aliases many times over is measured once."""
    known: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, expanded = stack.pop()
        if not isinstance(node, dict | list) or (id(node) in known and not expanded):
            continue
        children = list(node.values()) if isinstance(node, dict) else node
        if expanded:
            known[id(node)] = 1 + max((known.get(id(c), 0) for c in children), default=0)
            continue
        known[id(node)] = 0  # on the stack: a cycle (none in parsed JSON or YAML) ends here
        stack.append((node, True))
        stack.extend((child, False) for child in children if isinstance(child, dict | list))
    return known.get(id(value), 0)


def nested_too_deep(what: str, found: int | None = None) -> status.ApiError:
    levels = f"{found} levels" if found is not None else "deeper than can be parsed"
    return status.bad_request(
        f"{what} is nested {levels}; Firestore stores at most {MAX_DEPTH} levels of maps and arrays"
    )


def checked(value: Any, what: str) -> Any:
    """``value`` itself, or 400 when it is nested deeper than Firestore stores."""
    found = depth(value)
    if found > MAX_DEPTH:
        raise nested_too_deep(what, found)
    return value


def loads_json(body: bytes, what: str) -> Any:
    """``json.loads`` that answers 400 for a body nested past the parser or Firestore;
    ``ValueError`` and ``UnicodeDecodeError`` escape for the caller's own words."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise nested_too_deep(what) from None
    return checked(value, what)


def loads_yaml(body: bytes, what: str) -> Any:
    """``yaml.safe_load`` with the same limits (``yaml.YAMLError`` escapes)."""
    import yaml

    try:
        value = yaml.safe_load(body)
    except RecursionError:
        raise nested_too_deep(what) from None
    return checked(value, what)
