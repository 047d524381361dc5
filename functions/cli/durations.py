"""Go's duration text (``1m30s``, ``500ms``, ``5m0s``), as kubectl's flags take it.

A bare number is read as seconds, as the CLI's other timeouts are.
"""

from __future__ import annotations

import argparse
import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse(text: str) -> float:
    """Seconds; ValueError for anything else."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds < 0 or seconds != seconds:
            raise ValueError(f"invalid duration {text!r}")
        return seconds
    position, total = 0, 0.0
    while position < len(text):
        match = _PART.match(text, position)
        if match is None:
            raise ValueError(f"invalid duration {text!r}: use e.g. 30s, 1m30s, 500ms")
        total += float(match[1]) * _UNITS[match[2]]
        position = match.end()
    if not text:
        raise ValueError("invalid duration ''")
    return total


def argument(text: str) -> float:
    """``type=`` for argparse: a usage error names the value."""
    try:
        return parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def text(seconds: float) -> str:
    """Go's String() of whole seconds and minutes: ``1m0s``, ``3s``, ``500ms``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{rest:g}s"
    return f"{int(minutes)}m{rest_text}" if minutes else rest_text
