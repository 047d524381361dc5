"""Reading manifests: files, folders or stdin; YAML or JSON; several documents each.

Every document keeps where it came from (``file:index``, counted from 1) so that a
problem can be pointed at. Syntax errors are collected, not raised: ``apply`` reports
every problem of the whole input before deciding to write nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


@dataclass(frozen=True)
class Document:
    source: str  # a path, or "<stdin>"
    index: str  # "1", "2", ... or "1.items[0]" inside a kind: List
    data: Any

    @property
    def where(self) -> str:
        return f"{self.source}:{self.index}"


@dataclass
class Manifests:
    documents: list[Document]
    errors: list[str]  # "file: message" for what could not be read or parsed


def read(sources: Iterable[str]) -> Manifests:
    """Every document of every source, in order; folders give their manifests sorted by name."""
    found = Manifests([], [])
    for source in sources:
        if source == STDIN:
            _parse_text("<stdin>", sys.stdin.read(), found)
            continue
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES)
            if not files:
                found.errors.append(f"{path}: no {', '.join(SUFFIXES)} files in this folder")
            for file in files:
                _read_file(file, found)
        else:
            _read_file(path, found)
    return found


def _read_file(path: Path, found: Manifests) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        found.errors.append(f"{path}: no such file or folder")
    except (OSError, UnicodeDecodeError) as error:
        found.errors.append(f"{path}: cannot be read: {error}")
    else:
        _parse_text(str(path), text, found, json_first=path.suffix == ".json")


def _parse_text(source: str, text: str, found: Manifests, json_first: bool = False) -> None:
    docs: list[Any]
    if json_first or text.lstrip().startswith(("{", "[")):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            found.errors.append(f"{source}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}")
            return
        docs = value if isinstance(value, list) else [value]
    else:
        import yaml

        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as error:
            found.errors.append(f"{source}: invalid YAML: {_yaml_problem(error)}")
            return
    for number, doc in enumerate(docs, start=1):
        if doc is None:
            continue  # an empty document, e.g. after a trailing '---'
        if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            for position, item in enumerate(doc["items"]):
                found.documents.append(Document(source, f"{number}.items[{position}]", item))
        else:
            found.documents.append(Document(source, str(number), doc))


def _yaml_problem(error: Exception) -> str:
    """PyYAML's message on one line, with the 1-based line and column of the problem."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}" + (f" ({context})" if context else "")
