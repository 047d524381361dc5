"""``labelSelector``: Kubernetes' text syntax parsed, matched against served objects,
and the part a Firestore query can take (docs/kube-api.md §4).

The grammar and the error words are the apiserver's (``k8s.io/apimachinery`` labels
parser), so a bad selector answers what kubectl users already know. A label query is its
own small matcher rather than ``functions.api.selector.LabelSelector``: the text form
also has ``=``, ``!=``, ``>`` and ``<``, and an empty query means "everything", where an
empty apps/v1 selector means "nothing".

Only what a Firestore equality finds exactly is offered for pushdown (``equal``); every
term is still checked by ``matches`` on what the query returns. ``fieldSelector`` is
``field_selectors``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.cloud.firestore_v1.base_query import And, BaseFilter, FieldFilter, Or
from google.cloud.firestore_v1.field_path import FieldPath

from functions.kubeapi import status

_SPECIAL = "=!(),><"
_OPERATORS = ("!=", "==", "=", ">", "<", "in", "notin")
_EXPECTED = "in, notin, =, ==, !=, gt, lt"  # how the apiserver lists them after a key
_QUALIFIED = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


class SelectorError(ValueError):
    """A selector that does not parse; the message is the apiserver's."""


def _key_problems(key: str) -> list[str]:
    """``validation.IsQualifiedName``: the label key rules, in Kubernetes' words."""
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
        if len(prefix) > 253:
            return ["prefix part must be no more than 253 characters"]
        if not _SUBDOMAIN.fullmatch(prefix):
            return ["prefix part " + _SUBDOMAIN_MSG]
    else:
        return ["a qualified name " + _QUALIFIED_MSG
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        return ["name part must be non-empty"]
    problems = []
    if len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if not _QUALIFIED.fullmatch(name):
        problems.append("name part " + _QUALIFIED_MSG)
    return problems


def _value_problems(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if value and not _QUALIFIED.fullmatch(value):
        problems.append(_VALUE_MSG)
    return problems


def _check_key(key: str) -> None:
    problems = _key_problems(key)
    if problems:
        raise SelectorError(f'key: Invalid value: "{key}": {"; ".join(problems)}')


@dataclass(frozen=True)
class Requirement:
    """One term: ``key``, an operator (``=``, ``==``, ``!=``, ``in``, ``notin``,
    ``exists``, ``!``, ``>``, ``<``) and its values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """As ``labels.Requirement.Matches``: ``!=`` and ``notin`` match a missing key."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in ("=", "==", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if not present:  # > and <: both sides whole numbers
            return False
        try:
            have, bound = int(str(value)), int(self.values[0])
        except ValueError:
            return False
        return have > bound if self.operator == ">" else have < bound

    def text(self) -> str:
        values = ",".join(self.values)
        return {
            "exists": self.key,
            "!": f"!{self.key}",
            "in": f"{self.key} in ({values})",
            "notin": f"{self.key} notin ({values})",
        }.get(self.operator, f"{self.key}{self.operator}{values}")


@dataclass(frozen=True)
class LabelQuery:
    """A parsed ``labelSelector``: every requirement must hold (comma = AND)."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        """No requirement: matches everything (``labels.Everything()``)."""
        return not self.requirements

    @property
    def equal(self) -> dict[str, str]:
        """The ``a=b`` / ``a==b`` terms: safe as Firestore equality filters (the first
        value of a key that is asked twice; ``matches`` still checks both)."""
        out: dict[str, str] = {}
        for r in self.requirements:
            if r.operator in ("=", "==") and r.key not in out:
                out[r.key] = r.values[0]
        return out

    def matches(self, labels: Mapping[str, Any]) -> bool:
        plain = {str(k): str(v) for k, v in labels.items()} if labels else {}
        return all(r.matches(plain) for r in self.requirements)

    def text(self) -> str:
        """``labels.Selector.String()``: the requirements sorted by key."""
        return ",".join(r.text() for r in sorted(self.requirements, key=lambda r: r.key))


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens as (kind, literal); kinds: ``id``, ``in``, ``notin``, an operator or
    punctuation as itself, ``end``. Identifiers run until whitespace or a special symbol."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch in _SPECIAL:
            two = text[i:i + 2]
            if two in ("!=", "=="):
                tokens.append((two, two))
                i += 2
            else:
                tokens.append((ch, ch))
                i += 1
        else:
            j = i
            while j < len(text) and text[j] not in _SPECIAL and text[j] not in " \t\r\n":
                j += 1
            word = text[i:j]
            tokens.append((word if word in ("in", "notin") else "id", word))
            i = j
    tokens.append(("end", ""))
    return tokens


class _LabelParser:
    """``labels.Parser``: recursive descent over the tokens, Kubernetes' messages."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        kind, literal = self.tokens[self.pos]
        return ("id", literal) if values and kind in ("in", "notin") else (kind, literal)

    def take(self, values: bool = True) -> tuple[str, str]:
        token = self.peek(values)
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def parse(self) -> LabelQuery:
        found: list[Requirement] = []
        while True:
            kind, literal = self.peek()
            if kind == "end":
                return LabelQuery(tuple(found))
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                found.append(self.requirement())
            except SelectorError as err:
                raise SelectorError(f"unable to parse requirement: {err}") from None
            kind, literal = self.take()
            if kind == "end":
                return LabelQuery(tuple(found))
            if kind != ",":
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            kind, literal = self.peek()
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        kind, literal = self.take()
        negated = kind == "!"
        if negated:
            kind, literal = self.take()
        if kind != "id":
            raise SelectorError(f"found '{literal}', expected: identifier")
        key = literal
        _check_key(key)
        if negated:  # "!a=b" ends the term at "a"; the caller trips over the "="
            return Requirement(key, "!")
        if self.peek()[0] in ("end", ","):
            return Requirement(key, "exists")
        kind, literal = self.take(values=False)
        if kind not in _OPERATORS:
            raise SelectorError(f"found '{literal}', expected: {_EXPECTED}")
        values = self.value_set() if kind in ("in", "notin") else self.exact_value()
        for value in values:
            problems = _value_problems(value)
            if problems:
                raise SelectorError(f'values[{key}]: Invalid value: "{value}": {"; ".join(problems)}')
        if kind in (">", "<"):
            try:
                int(values[0])
            except ValueError:
                raise SelectorError(
                    f'values: Invalid value: "{values[0]}": for \'Gt\', \'Lt\' operators, the value must be an integer'
                ) from None
        return Requirement(key, kind, values)

    def exact_value(self) -> tuple[str, ...]:
        kind, _ = self.peek()
        if kind in ("end", ","):
            return ("",)
        kind, literal = self.take()
        if kind != "id":
            raise SelectorError(f"found '{literal}', expected: identifier")
        return (literal,)

    def value_set(self) -> tuple[str, ...]:
        kind, literal = self.take()
        if kind != "(":
            raise SelectorError(f"found '{literal}' expected: '('")
        kind, literal = self.peek()
        if kind == ")":
            self.take()
            return ("",)
        if kind not in ("id", ","):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:
            kind, literal = self.take()
            if kind == "id":
                values.add(literal)
                following, seen = self.peek()
                if following == ")":
                    self.take()
                    return tuple(sorted(values))
                if following != ",":
                    raise SelectorError(f"found '{seen}', expected: ',' or ')'")
            elif kind == ",":
                if not values:
                    values.add("")
                following, _ = self.peek()
                if following == ")":
                    self.take()
                    values.add("")
                    return tuple(sorted(values))
                if following == ",":
                    self.take()
                    values.add("")
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")


def parse_label_selector(text: str) -> LabelQuery:
    """The ``labelSelector`` query parameter; a bad one is a 400 in Kubernetes' words."""
    try:
        return _LabelParser(text or "").parse()
    except SelectorError as err:
        raise status.bad_request(str(err)) from None


def label_filters(query: LabelQuery) -> list[BaseFilter]:
    """Firestore filters for the query's equality terms: one filter (empty list when there
    is nothing to push) that finds a document whichever shape keeps its labels — v1
    documents under ``metadata.labels``, 2014 documents at the top-level ``labels`` — as
    an Or of two Ands. Apply it with ``query.where(filter=label_filters(q)[0])``; what
    comes back still goes through ``query.matches``."""
    pairs = sorted(query.equal.items())
    if not pairs:
        return []

    def both(*prefix: str) -> BaseFilter:
        terms: list[BaseFilter] = [FieldFilter(FieldPath(*prefix, k).to_api_repr(), "==", v) for k, v in pairs]
        return terms[0] if len(terms) == 1 else And(terms)

    return [Or([both("metadata", "labels"), both("labels")])]
