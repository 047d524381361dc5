"""Object names, chosen so that every object can name the cloud resources made for it.

Compute Engine names are at most 63 characters of ``[a-z]([-a-z0-9]*[a-z0-9])?``.
A pod's VM is ``{cluster}-{4 hex of namespace}-{pod}``, so with a cluster name of at
most 16 characters a pod name may have 40; a controller's pods are named
``{controller}-{5 chars}``, which leaves a controller 34. Namespaces are hashed into
resource names and may be any DNS-1123 label.
"""

from __future__ import annotations

import hashlib
import re
import secrets

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
GCE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")
GCE_ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]\Z")  # us-central1-a


def zone_or_none(value: object) -> str | None:
    """A zone as stored by us, or None when it is missing or not a zone (never trusted)."""
    return value if isinstance(value, str) and GCE_ZONE.match(value) else None

MAX_CLUSTER_NAME = 16
MAX_NAMESPACE = 63
MAX_POD_NAME = 40
MAX_SERVICE_NAME = 40
SUFFIX_LENGTH = 5
MAX_CONTROLLER_NAME = MAX_POD_NAME - SUFFIX_LENGTH - 1

# Kubernetes' utilrand alphabet: no vowels (no words) and no 0/1/3 (no look-alikes).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def name_problem(value: object, max_length: int, what: str = "name") -> str | None:
    """Why ``value`` cannot be a ``what``, or None when it can."""
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}"
    if not value:
        return f"{what} must not be empty"
    if len(value) > max_length:
        return f"{what} {_show(value)} is {len(value)} characters; at most {max_length} are allowed"
    if not GCE_NAME.match(value):
        return (
            f"{what} {_show(value)} must consist of lower-case letters, digits and '-', "
            "start with a letter and end with a letter or digit"
        )
    return None


def namespace_problem(value: object) -> str | None:
    if isinstance(value, str) and DNS_LABEL.match(value) and len(value) <= MAX_NAMESPACE:
        return None
    if not isinstance(value, str):
        return f"namespace must be a string, not {type(value).__name__}"
    return (
        f"namespace {_show(value)} must be a DNS-1123 label: at most {MAX_NAMESPACE} "
        "lower-case letters, digits and '-', starting and ending with a letter or digit"
    )


def generate_pod_name(controller: str) -> str:
    """``{controller}-{5 random chars}``, as Kubernetes' generateName does."""
    return f"{controller}-" + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))


def short_hash(text: str, length: int = 4) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _show(value: str) -> str:
    """A user string quoted and cut short, safe to put in a message."""
    shown = value if len(value) <= 80 else value[:77] + "..."
    return repr(shown)
