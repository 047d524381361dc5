"""List semantics: the ``filter`` expressions and ``maxResults``/``pageToken`` paging.

Supports what our clients send: ``labels.env = "prod"``, ``name != "x"``,
``labels.env eq prod`` (``eq``/``ne`` take a regular expression that must match the
whole value), several terms joined by spaces or ``AND``, each optionally in
parentheses. Anything else is a 400, as on Compute Engine.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from typing import Any

from .errors import ApiError, invalid

MAX_RESULTS = 500

_TERM = re.compile(
    r"""\(?\s*(?P<field>[A-Za-z][\w.\-]*)\s*(?P<op>!=|=|\beq\b|\bne\b)\s*
        (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s()]+))\s*\)?\s*(?:\bAND\b\s*)?""",
    re.VERBOSE,
)

Predicate = Callable[[dict[str, Any]], bool]


def _value(resource: dict[str, Any], field: str) -> str | None:
    node: Any = resource
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool):
        return str(node).lower()
    return None if isinstance(node, dict | list) else str(node)


def _term(field: str, op: str, wanted: str) -> Predicate:
    if op in ("eq", "ne"):
        try:
            pattern = re.compile(wanted)
        except re.error as e:
            raise invalid(f"Invalid value for field 'filter': '{wanted}'. {e}") from None

        def regex(resource: dict[str, Any]) -> bool:
            value = _value(resource, field)
            matched = value is not None and pattern.fullmatch(value) is not None
            return matched if op == "eq" else not matched

        return regex

    def compare(resource: dict[str, Any]) -> bool:
        value = _value(resource, field)
        return (value == wanted) if op == "=" else (value != wanted)

    return compare


def parse_filter(text: str) -> Predicate:
    """A predicate for one ``filter`` query parameter (empty: everything)."""
    text = text.strip()
    terms: list[Predicate] = []
    pos = 0
    while pos < len(text):
        match = _TERM.match(text, pos)
        if not match or match.end() == pos:
            raise invalid(f"Invalid value for field 'filter': '{text}'. Invalid list filter expression.")
        wanted = match["quoted"] if match["quoted"] is not None else match["bare"]
        terms.append(_term(match["field"], match["op"], wanted.replace('\\"', '"')))
        pos = match.end()
    return lambda resource: all(term(resource) for term in terms)


def page(items: Sequence[Any], max_results: str | None, page_token: str | None) -> tuple[list[Any], str | None]:
    """One page of ``items`` and the token of the next, if any."""
    try:
        size = MAX_RESULTS if not max_results else int(max_results)
    except ValueError:
        raise invalid(f"Invalid value for field 'maxResults': '{max_results}'.") from None
    if not 0 <= size <= MAX_RESULTS:
        raise invalid(f"Invalid value for field 'maxResults': '{size}'. Must be between 0 and 500.")
    size = size or MAX_RESULTS
    start = 0
    if page_token:
        try:
            start = int(base64.urlsafe_b64decode(page_token.encode()).decode().removeprefix("offset:"))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, f"Invalid value for field 'pageToken': '{page_token}'.") from None
    chunk = list(items[start : start + size])
    end = start + len(chunk)
    token = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(items) else None
    return chunk, token
