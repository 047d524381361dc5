"""Everything the CLI prints: tables with rich, documents as JSON or YAML, messages.

Results go to stdout and problems to stderr, so ``get -o json | jq`` stays clean.
Off a terminal, tables are never wrapped or cut (a script reads whole rows) and carry
no colour. Whatever is printed passes through ``visible``: a name, label, message or
event written by anyone could hold terminal escape sequences (``\x1b[31m``, a title
change, a cursor move) or bidi overrides that make text read other than it is; they
are printed as escaped literals, never sent to the terminal.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

WIDE_OFF_TERMINAL = 10_000
# C0 and C1 control characters, DEL, and the bidi marks, embeddings, overrides and isolates.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What JSON and YAML output may still carry raw (they escape C0 controls themselves).
UNSAFE_IN_DATA = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control character and bidi control escaped (``\x1b``, ``\u202e``)."""
    return UNSAFE.sub(_escaped, text)


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
        self.out.print(visible(text), markup=False)

    def warn(self, text: str) -> None:
        self.err.print(f"warning: {visible(text)}", markup=False, style="yellow")

    def error(self, text: str) -> None:
        self.err.print(visible(text), markup=False, style="red")

    def note(self, text: str) -> None:
        """A remark on stderr that is not an error."""
        self.err.print(visible(text), markup=False)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
        table = make_table(columns, rows, title)
        if self.out.is_terminal:
            self.out.print(table)
            return
        with self.out.capture() as captured:
            self.out.print(table)
        self.raw("\n".join(line.rstrip() for line in captured.get().splitlines()))

    def raw(self, text: str) -> None:
        """Text as given (JSON, YAML, made safe by ``dump``): no markup, no wrapping."""
        self.out.file.write(text if text.endswith("\n") else text + "\n")
        self.out.file.flush()


def make_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> Table:
    from rich.table import Table

    table = Table(box=None, title=title, title_justify="left", header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[_escape(visible(cell)) for cell in row])
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
        # JSON escapes C0 controls itself; DEL, C1 and bidi controls become \\uXXXX here
        # (every non-ASCII character of the output is inside a string).
        text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
        return UNSAFE_IN_DATA.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    import yaml

    text = str(yaml.safe_dump(data, sort_keys=True, allow_unicode=True, default_flow_style=False))
    if UNSAFE_IN_DATA.search(text):  # YAML prints bidi controls as they are: escape all non-ASCII then
        text = str(yaml.safe_dump(data, sort_keys=True, allow_unicode=False, default_flow_style=False))
    return text


