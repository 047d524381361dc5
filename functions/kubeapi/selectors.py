"""``labelSelector`` and ``fieldSelector``: Kubernetes' text syntax parsed, matched
against served objects, and the part a Firestore query can take (docs/kube-api.md §4).

The grammar and the error words are the apiserver's (``k8s.io/apimachinery`` labels and
fields parsers), so a bad selector answers what kubectl users already know. A label
query is its own small matcher rather than ``functions.api.selector.LabelSelector``: the
text form also has ``=``, ``!=``, ``>`` and ``<``, and an empty query means "everything",
where an empty apps/v1 selector means "nothing".

Only what a Firestore equality finds exactly is offered for pushdown (``equal``); every
term is still checked by ``matches`` on what the query returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.cloud.firestore_v1.base_query import And, BaseFilter, FieldFilter, Or
from google.cloud.firestore_v1.field_path import FieldPath

from functions.kubeapi import status
from functions.kubeapi.resources import Resource

# ---------------------------------------------------------------------------- labels

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


# ---------------------------------------------------------------------------- fields

Getter = Callable[[dict[str, Any]], str]


def _at(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _path(*keys: str, default: str = "") -> Getter:
    """The value at a path, as text; a missing one is ``default`` (Kubernetes reads the
    zero value, or the value its defaulting would have stored)."""
    return lambda obj: _text(_at(obj, *keys)) or default


def _pod_ip(obj: dict[str, Any]) -> str:
    ips = _at(obj, "status", "podIPs")
    if isinstance(ips, list) and ips and isinstance(ips[0], dict) and ips[0].get("ip"):
        return _text(ips[0]["ip"])
    return _text(_at(obj, "status", "podIP"))


def _event_source(obj: dict[str, Any]) -> str:
    return _text(_at(obj, "source", "component")) or _text(obj.get("reportingComponent"))


def _replicas(obj: dict[str, Any]) -> str:
    value = _at(obj, "status", "replicas")
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"


_METADATA: dict[str, Getter] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}

# Per resource: field -> how to read it from the served object. The sets are Kubernetes'
# (pkg/registry/core/*/strategy.go, the field label conversions in pkg/apis/*/v1).
FIELDS: dict[str, dict[str, Getter]] = {
    "pods": {
        **_METADATA,
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy", default="Always"),
        "spec.schedulerName": _path("spec", "schedulerName", default="default-scheduler"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "spec.hostNetwork": _path("spec", "hostNetwork", default="false"),
        "status.phase": _path("status", "phase"),
        "status.podIP": _pod_ip,
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
    "events": {
        **_METADATA,
        **{f"involvedObject.{k}": _path("involvedObject", k)
           for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
        "reason": _path("reason"),
        "reportingComponent": _path("reportingComponent"),
        "source": _event_source,
        "type": _path("type"),
    },
    "replicationcontrollers": {**_METADATA, "status.replicas": _replicas},
    "replicasets": {**_METADATA, "status.replicas": _replicas},
    "services": {**_METADATA, "spec.clusterIP": _path("spec", "clusterIP"),
                 "spec.type": _path("spec", "type", default="ClusterIP")},
    "namespaces": {"metadata.name": _path("metadata", "name"), "status.phase": _path("status", "phase")},
}
ALIASES = {"pods": {"spec.host": "spec.nodeName"}}  # old v1 clients' name for it

# Fields stored at the same path in every document shape, never defaulted nor derived:
# a Firestore equality on them finds exactly the documents whose served field matches.
PUSHABLE = {
    "pods": ("status.phase",),
    "events": ("reason", "type", "reportingComponent",
               *(f"involvedObject.{k}" for k in ("kind", "namespace", "name", "uid", "apiVersion",
                                                  "resourceVersion", "fieldPath"))),
}


def supported_fields(resource: Resource) -> tuple[str, ...]:
    return tuple(FIELDS.get(resource.plural, _METADATA))


@dataclass(frozen=True)
class FieldTerm:
    field: str
    operator: str  # "=" (also for "==") or "!="
    value: str


@dataclass(frozen=True)
class FieldQuery:
    """A parsed ``fieldSelector`` for one resource: every term must hold."""

    resource: str
    terms: tuple[FieldTerm, ...] = ()
    _getters: dict[str, Getter] = field(default_factory=dict, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        return not self.terms

    def _equal_terms(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for term in self.terms:
            if term.operator == "=" and term.field not in out:
                out[term.field] = term.value
        return out

    @property
    def equal(self) -> dict[str, str]:
        """Equality terms a Firestore query can take as ``FieldFilter(path, "==", value)``
        on the stored document: fields kept at that path in every shape, with a non-empty
        value (a missing field reads as "", which Firestore cannot find). ``metadata.name``
        and ``metadata.namespace`` are never here: see ``name`` and ``namespace``."""
        pushable = PUSHABLE.get(self.resource, ())
        return {k: v for k, v in self._equal_terms().items() if k in pushable and v}

    @property
    def name(self) -> str | None:
        """``metadata.name=x``: the one document id worth reading (None if not asked)."""
        return self._equal_terms().get("metadata.name")

    @property
    def namespace(self) -> str | None:
        """``metadata.namespace=x``: the one namespace worth reading (None if not asked)."""
        return self._equal_terms().get("metadata.namespace")

    def value(self, obj: dict[str, Any], field_name: str) -> str:
        return self._getters[field_name](obj)

    def matches(self, obj: dict[str, Any]) -> bool:
        """Over the served object (``functions.served``); a missing field is ""."""
        for term in self.terms:
            equal = self._getters[term.field](obj) == term.value
            if equal != (term.operator == "="):
                return False
        return True


def _split_terms(text: str) -> list[str]:
    """Split on commas that a backslash does not escape (``fields.splitTerms``)."""
    terms, current, escaped = [], "", False
    for ch in text:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch == ",":
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return terms


def _unescape(value: str) -> str:
    """``fields.UnescapeValue``: ``\\\\``, ``\\,`` and ``\\=`` only."""
    out, i = "", 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: {value[i:i + 2]}")
            out += value[i + 1]
            i += 2
            continue
        if ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ch}")
        out += ch
        i += 1
    return out


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def _unsupported(resource: Resource, label: str) -> str:
    if resource.plural in FIELDS:
        return f"field label not supported: {label}"
    # kinds with no conversion of their own: apimachinery's default words
    return f'"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"'


def parse_field_selector(resource: Resource, text: str) -> FieldQuery:
    """The ``fieldSelector`` query parameter for this resource; a bad or unsupported one
    is a 400 in Kubernetes' words (``field label not supported: x``)."""
    getters = FIELDS.get(resource.plural, _METADATA)
    aliases = ALIASES.get(resource.plural, {})
    terms: list[FieldTerm] = []
    try:
        for part in sorted(_split_terms(text or "")):
            if not part:
                continue
            split = _split_term(part)
            if split is None:
                raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
            label, op, raw = split
            value = _unescape(raw)
            label = aliases.get(label, label)
            if label not in getters:
                raise SelectorError(_unsupported(resource, label))
            terms.append(FieldTerm(label, "!=" if op == "!=" else "=", value))
    except SelectorError as err:
        raise status.bad_request(str(err)) from None
    return FieldQuery(resource.plural, tuple(terms), dict(getters))
