"""The ``pod-template-hash``: how a Deployment names its ReplicaSets and tells them apart.

As Kubernetes' ``controller.ComputeHash``: fnv-32a over the pod template, then the
Deployment's ``status.collisionCount`` when it is set, the 32-bit sum printed in decimal
and each digit mapped into ``rand.SafeEncodeString``'s alphabet (no vowels, no 0/1/3).
Kubernetes hashes the Go struct; here the template is hashed as the Deployment holds it,
as canonical JSON (docs/workloads.md), so every part (controller, CLI) gets the same name.
"""

from __future__ import annotations

import json
import struct
from typing import Any

HASH_LABEL = "pod-template-hash"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv32a(data: bytes) -> int:
    value = _FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: every character to one of the alphabet's, by its code."""
    return "".join(_ALPHABET[ord(char) % len(_ALPHABET)] for char in text)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def pod_template_hash(template: Any, collision_count: int | None = None) -> str:
    """The hash of ``spec.template`` as stored, with the collision count when set."""
    data = canonical_json(template)
    if collision_count is not None:
        data += struct.pack("<I", collision_count & 0xFFFFFFFF)
    return safe_encode(str(fnv32a(data)))


def without_hash(template: Any) -> Any:
    """The template with ``metadata.labels[pod-template-hash]`` taken out (a copy)."""
    if not isinstance(template, dict):
        return template
    metadata = template.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("labels"), dict):
        return template
    labels = {k: v for k, v in metadata["labels"].items() if k != HASH_LABEL}
    return {**template, "metadata": {**metadata, "labels": labels}}


def with_hash(template: Any, value: str) -> dict[str, Any]:
    """The template with ``metadata.labels[pod-template-hash] = value`` (a copy)."""
    base: dict[str, Any] = template if isinstance(template, dict) else {}
    metadata: dict[str, Any] = base["metadata"] if isinstance(base.get("metadata"), dict) else {}
    labels: dict[str, Any] = metadata["labels"] if isinstance(metadata.get("labels"), dict) else {}
    return {**base, "metadata": {**metadata, "labels": {**labels, HASH_LABEL: value}}}


def _semantic(value: Any) -> Any:
    """Kubernetes' semantic equality: an unset field, an empty map and an empty list are one."""
    if isinstance(value, dict):
        items = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def equal_ignore_hash(a: Any, b: Any) -> bool:
    """``EqualIgnoreHash``: two templates equal but for their ``pod-template-hash`` labels."""
    return bool(canonical_json(_semantic(without_hash(a))) == canonical_json(_semantic(without_hash(b))))
