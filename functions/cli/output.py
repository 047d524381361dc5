"""Everything the CLI prints: tables with rich, documents as JSON or YAML, messages.

Results go to stdout and problems to stderr, so ``get -o json | jq`` stays clean.
Off a terminal, tables are never wrapped or cut (a script reads whole rows) and carry
no colour.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

WIDE_OFF_TERMINAL = 10_000


def _console(stderr: bool) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(
        file=stream, stderr=stderr, width=None if terminal else WIDE_OFF_TERMINAL,
        highlight=False, soft_wrap=not terminal, emoji=False,
    )


class Output:
    """Two consoles, made when first used, on the streams current at that time."""

    def __init__(self) -> None:
        self._out: Console | None = None
        self._err: Console | None = None

    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = _console(stderr=False)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = _console(stderr=True)
        return self._err

    def line(self, text: str) -> None:
        self.out.print(text, markup=False)

    def warn(self, text: str) -> None:
        self.err.print(f"warning: {text}", markup=False, style="yellow")

    def error(self, text: str) -> None:
        self.err.print(text, markup=False, style="red")

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
        table = make_table(columns, rows, title)
        if self.out.is_terminal:
            self.out.print(table)
            return
        with self.out.capture() as captured:
            self.out.print(table)
        self.raw("\n".join(line.rstrip() for line in captured.get().splitlines()))

    def raw(self, text: str) -> None:
        """Text exactly as given (JSON, YAML): no markup, no wrapping."""
        self.out.file.write(text if text.endswith("\n") else text + "\n")
        self.out.file.flush()


def make_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> Table:
    from rich.table import Table

    table = Table(box=None, title=title, title_justify="left", header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[_escape(cell) for cell in row])
    return table


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def plain(value: Any) -> Any:
    """Firestore values as JSON/YAML data: datetimes in RFC 3339, others as text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return rfc3339(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return str(value)


def rfc3339(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def dump(value: Any, fmt: str) -> str:
    """JSON or YAML with sorted keys: Firestore returns a map's keys in no stable order,
    and sorted, a v1 object reads apiVersion, kind, metadata, spec, status, as kubectl's."""
    data = plain(value)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
    import yaml

    return str(yaml.safe_dump(data, sort_keys=True, allow_unicode=True, default_flow_style=False))


def age(since: Any, now: datetime | None = None) -> str:
    """kubectl's short age: 42s, 5m, 3h, 2d; ``<unknown>`` without a time."""
    if not isinstance(since, datetime):
        return "<unknown>"
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "d" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
