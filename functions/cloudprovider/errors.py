"""The cloud provider's own error tree: vendor errors are translated into it once, at the boundary.

::

    CloudError
    ├── NotFoundError             404: the resource is not there
    ├── AlreadyExistsError        409: someone (maybe our own earlier pass) created it
    ├── TemporaryError            429, 5xx, timeouts, operation deadlines, after our retries:
    │   │                         re-raise so the platform retries the invocation
    │   └── ResourceInUseError    400 resourceInUseByAnotherResource: still referenced
    └── PermanentError            the same request will fail the same way: report, don't raise
        ├── InvalidRequestError   400: bad name, port, IP, protocol (also raised before any call)
        ├── QuotaError            403 quotaExceeded: needs more quota or fewer resources
        ├── NameConflictError     the name is held by a resource that is not this object's:
        │                         nothing is adopted or deleted
        └── UnknownProviderError  ``build_provider`` asked for a provider we do not have

Nothing outside ``functions.cloudprovider`` sees a ``google.api_core`` exception.
"""

from __future__ import annotations


class CloudError(Exception):
    """Base of every error the cloud provider raises."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFoundError(CloudError):
    pass


class AlreadyExistsError(CloudError):
    pass


class TemporaryError(CloudError):
    """Worth retrying later, as it is."""


class ResourceInUseError(TemporaryError):
    pass


class PermanentError(CloudError):
    """Retrying unchanged will not help; report it on the object."""


class InvalidRequestError(PermanentError):
    pass


class QuotaError(PermanentError):
    pass


class UnknownProviderError(PermanentError):
    pass


class NameConflictError(PermanentError):
    """A resource under the name we would use belongs to someone else (another cluster,
    namespace or object, or nobody we know): it is neither adopted nor deleted."""
