"""Errors as Kubernetes ``Status`` objects: what kubectl prints as ``Error from server``.

Every module raises ``ApiError``; ``app`` turns it into the response. The reasons and
codes are the apiserver's (``k8s.io/apimachinery/pkg/api/errors``), so clients that
branch on them (``IsNotFound``, ``IsConflict``) work unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Cause:
    """One validation problem: ``field`` is the path (``spec.replicas``), as Kubernetes'."""

    message: str
    field: str = ""
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        out = {"reason": self.reason, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class ApiError(Exception):
    code: int
    reason: str
    message: str
    kind: str = ""  # details.kind: the resource's plural (Kubernetes puts the resource there)
    name: str = ""
    group: str = ""
    causes: list[Cause] = field(default_factory=list)
    retry_after: int | None = None

    def __str__(self) -> str:
        return self.message

    def to_status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        }
        if details:
            body["details"] = details
        return body


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(404, "NotFound", f'{_qualified(plural, group)} "{name}" not found', plural, name, group)


def already_exists(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_qualified(plural, group)} "{name}" already exists', plural, name, group)


def conflict(plural: str, name: str, why: str, group: str = "") -> ApiError:
    """409 Conflict: ``why`` as Kubernetes says it, e.g. the stale resourceVersion message."""
    message = f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": {why}'
    return ApiError(409, "Conflict", message, plural, name, group)


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: str, name: str, causes: list[Cause], group: str = "") -> ApiError:
    """422 Invalid, one cause per problem, the message as the apiserver builds it."""
    parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    listed = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    qualified = f"{kind}.{group}" if group else kind  # the apiserver's GroupKind: Deployment.apps
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {listed}', kind, name, group, causes)


def causes_of(messages: list[str]) -> list[Cause]:
    """Our validation messages start with the field path (``spec.replicas: ...``): split it off."""
    causes = []
    for text in messages:
        head, sep, rest = text.partition(": ")
        if sep and head and " " not in head.strip("[]'\""):
            causes.append(Cause(message=rest, field=head))
        else:
            causes.append(Cause(message=text))
    return causes


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(message: str, plural: str = "", name: str = "", group: str = "") -> ApiError:
    return ApiError(403, "Forbidden", message, plural, name, group)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def not_acceptable(message: str) -> ApiError:
    return ApiError(406, "NotAcceptable", message)


def gone(message: str) -> ApiError:
    """410: a resourceVersion or continue token older than Firestore can read back."""
    return ApiError(410, "Expired", message)


def unsupported_media_type(message: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", message)


def too_large(message: str) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", message)


def too_many_requests(message: str, retry_after: int = 1) -> ApiError:
    return ApiError(429, "TooManyRequests", message, retry_after=retry_after)


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", message)


def success(plural: str, name: str, uid: str, group: str = "") -> dict[str, Any]:
    """What DELETE answers when the object is gone at once (no finalizer held it)."""
    details: dict[str, Any] = {"name": name, "kind": plural, "uid": uid}
    if group:
        details["group"] = group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
