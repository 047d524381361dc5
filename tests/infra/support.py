"""Reading the Terraform module with python-hcl2, and where the infra tools live."""

from __future__ import annotations

import shutil
import sys
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TERRAFORM = INFRA / "terraform"
VENV_BIN = Path(sys.executable).parent


def _plain(value: Any) -> Any:
    """python-hcl2's output without its markers: keys and string literals unquoted,
    expressions kept as "${...}" text, blocks as lists of dicts."""
    if isinstance(value, dict):
        return {_unquote(k): _plain(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return _unquote(value)
    return value


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


@cache
def module() -> dict[str, Any]:
    """Every .tf file of infra/terraform merged: {"resource": {type: {name: body}}, "locals": {...}, ...}."""
    merged: dict[str, Any] = {"resource": {}, "data": {}, "locals": {}, "variable": {}, "output": {}}
    for path in sorted(TERRAFORM.glob("*.tf")):
        parsed = _plain(hcl2.loads(path.read_text()))
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    merged[kind].setdefault(rtype, {}).update(named)
        for block in parsed.get("locals", []):
            merged["locals"].update(block)
        for kind in ("variable", "output"):
            for block in parsed.get(kind, []):
                merged[kind].update(block)
    return merged


def resources(rtype: str) -> dict[str, Any]:
    found: dict[str, Any] = module()["resource"].get(rtype, {})
    return found


def comments(path: Path) -> list[str]:
    """Every comment python-hcl2 saw in a file, at any depth."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            found.extend(c["value"] for c in value.get("__comments__", []))
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(hcl2.loads(path.read_text()))
    return found


def tool(name: str) -> str | None:
    """A tool from this virtualenv, or PATH."""
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else shutil.which(name)
