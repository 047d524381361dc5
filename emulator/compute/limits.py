"""Compute Engine's limits on what a resource may carry: labels, metadata, network tags.

Each check raises the 400 ``invalid`` Compute Engine answers, worded as it words it
(the label and metadata-key messages are Compute Engine's own; the count of labels
and the metadata total follow the same pattern). Sizes are UTF-8 bytes, as
documented for metadata; label lengths are characters.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from .errors import invalid
from .model import NAME

MAX_LABELS = 64
MAX_LABEL_LENGTH = 63
METADATA_KEY = re.compile(r"^[a-zA-Z0-9-_]{1,128}$")
METADATA_VALUE_BYTES = 256 * 1024
METADATA_TOTAL_BYTES = 512 * 1024

_KEY_RULE = (
    "The key must start with a lowercase character, can only contain lowercase letters, numeric characters, "
    "underscores and dashes. The key can be at most 63 characters long. International characters are allowed."
)
_VALUE_RULE = (
    "The value can only contain lowercase letters, numeric characters, underscores and dashes. "
    "The value can be at most 63 characters long. International characters are allowed."
)


def _lower_letter(char: str) -> bool:
    """A lowercase letter of any script, or a letter of a script without case (\\p{Ll}, \\p{Lo})."""
    return unicodedata.category(char) in ("Ll", "Lo")


def _label_char(char: str) -> bool:
    return _lower_letter(char) or unicodedata.category(char).startswith("N") or char in "_-"


def label_key_ok(key: str) -> bool:
    return 0 < len(key) <= MAX_LABEL_LENGTH and _lower_letter(key[0]) and all(map(_label_char, key))


def label_value_ok(value: str) -> bool:
    return len(value) <= MAX_LABEL_LENGTH and all(map(_label_char, value))


def check_labels(labels: Any, field: str = "resource.labels") -> None:
    if labels is None:
        return
    if not isinstance(labels, dict):
        raise invalid(f"Invalid value for field '{field}': '{labels}'.")
    if len(labels) > MAX_LABELS:
        raise invalid(f"Invalid value for field '{field}': ''. Too many labels: {len(labels)}. "
                      f"A resource can have at most {MAX_LABELS} labels.")
    for key, value in labels.items():
        if not label_key_ok(str(key)):
            raise invalid(f"Invalid value for field '{field}': ''. Label key '{key}' violates format constraints. {_KEY_RULE}")
        if not isinstance(value, str) or not label_value_ok(value):
            raise invalid(f"Invalid value for field '{field}': ''. Label value '{value}' violates format constraints. {_VALUE_RULE}")


def check_metadata(metadata: Any, field: str = "resource.metadata") -> None:
    """Keys by regex, each value at most 256 KiB, keys and values together at most 512 KiB."""
    if not metadata:
        return
    items = (metadata.get("items") or []) if isinstance(metadata, dict) else None
    if not isinstance(items, list):
        raise invalid(f"Invalid value for field '{field}': '{metadata}'.")
    total = 0
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid(f"Invalid value for field '{field}.items[{i}]': '{item}'.")
        key, value = str(item.get("key", "")), str(item.get("value", ""))
        if not METADATA_KEY.match(key):
            raise invalid(f"Invalid value for field '{field}.items[{i}].key': '{key}'. "
                          "Must be a match of regex '[a-zA-Z0-9-_]{1,128}'")
        if key in seen:
            raise invalid(f"Invalid value for field '{field}.items[{i}].key': '{key}'. Duplicate keys are not allowed.")
        seen.add(key)
        size = len(value.encode())
        if size > METADATA_VALUE_BYTES:
            raise invalid(f"Value for field '{field}.items[{i}].value' is too large: "
                          f"maximum size {METADATA_VALUE_BYTES} character(s); actual size {size}.")
        total += len(key.encode()) + size
    if total > METADATA_TOTAL_BYTES:
        raise invalid(f"Invalid value for field '{field}': ''. Metadata has exceeded the limit of "
                      f"{METADATA_TOTAL_BYTES} bytes for keys and values together; actual size {total}.")


def check_tags(tags: Any, field: str) -> None:
    """Network tags (instance ``tags.items``, firewall ``targetTags``/``sourceTags``) are RFC 1035 labels."""
    for i, tag in enumerate(tags or []):
        if not isinstance(tag, str) or not NAME.match(tag):
            raise invalid(f"Invalid value for field '{field}[{i}]': '{tag}'. "
                          "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")
