"""One JSON object per log line, with ``severity`` and ``message``, as Cloud Logging reads them.

Use ``log.info("too few replicas", extra=obj_fields(ref, need=5, creating=2))``; any
``extra`` keys land as top-level JSON fields.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname if record.levelname != "WARNING" else "WARNING",
            "message": record.getMessage(),
            "logger": record.name,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(level: int = logging.INFO) -> None:
    """Install the JSON handler on the ``firecontrol`` logger once."""
    logger = logging.getLogger("firecontrol")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def ref_fields(kind: str, namespace: str, name: str, **fields: Any) -> dict[str, Any]:
    """The ``extra`` of a log line about one object."""
    return {"object": f"{kind}/{namespace}/{name}", **fields}
