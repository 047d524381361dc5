"""ResourceQuotas for display: what each limits, and what its namespace uses now.

Usage is computed on read (``functions.quota.usage``, the aggregations the controller
uses, with this machine's ``FIRECONTROL_MACHINE_TYPES``), once per namespace, so
``get`` and ``describe`` show what holds now, not what the last creating pass saw.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from functions.api.shapes import as_map

if TYPE_CHECKING:
    from functions.store import Doc, Store


def with_usage(store: Store, docs: list[Doc]) -> list[Doc]:
    """The quotas with ``status.used`` as their namespaces hold now (a quota that does
    not parse keeps what is stored)."""
    from functions import quota
    from functions.api.parse import parse_quota
    from functions.api.quota import format_quantity
    from functions.config import Settings

    settings = Settings.from_env()
    cache: dict[str, dict[Any, Any]] = {}
    result = []
    for doc in docs:
        parsed = parse_quota(doc.data, doc.namespace, doc.name)
        if parsed.obj is None:
            result.append(doc)
            continue
        limits = parsed.obj.limits()
        wanted = {resource for _, resource, _ in limits}
        have = cache.setdefault(doc.namespace, {})
        missing = wanted - have.keys()
        if missing:
            have.update(quota.usage(store, doc.namespace, settings, missing))
        used = {key: format_quantity(resource, have[resource]) if have.get(resource) is not None else "?"
                for key, resource, _ in limits}
        hard = {key: format_quantity(resource, limit) for key, resource, limit in limits}
        status = {**as_map(doc.data.get("status")), "hard": hard, "used": used}
        result.append(replace(doc, data={**doc.data, "status": status}))
    return result
