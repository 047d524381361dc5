"""``fieldSelector``: Kubernetes' text syntax parsed for one resource, matched against
served objects, and the part a Firestore query can take (docs/kube-api.md §4).

The fields each resource offers are tables of getters over the served object
(``FIELDS``), Kubernetes' sets; the grammar and the error words are the apiserver's
(``k8s.io/apimachinery`` fields parser). Only fields stored at one path in every document
shape are offered for pushdown (``PUSHABLE``); every term is still checked by
``matches`` on what the query returns. ``labelSelector`` is ``label_selectors``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from functions.kubeapi import status
from functions.kubeapi.label_selectors import SelectorError
from functions.kubeapi.resources import Resource

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
