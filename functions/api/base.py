"""The shared base of every object model: camelCase on the wire, unknown fields kept.

Documents are Kubernetes v1 objects as Firestore maps. Models accept the camelCase
names (and snake_case from Python), keep fields they do not know in ``model_extra`` so
nothing a user wrote is lost, and dump back to the same shape with ``to_doc``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        validate_default=False,
    )

    def to_doc(self) -> dict[str, Any]:
        """The Firestore map of this object (camelCase, unset optionals left out)."""
        return self.model_dump(by_alias=True, exclude_none=True)


def format_loc(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """``("spec", "containers", 0, "image")`` -> ``spec.containers[0].image``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(document)"


_FIELD_PREFIX = re.compile(r"^([a-zA-Z]+): (.*)$", re.DOTALL)


def error_messages(error: ValidationError, prefix: str = "") -> list[str]:
    """Path-precise, human messages from a pydantic error, one per problem.

    A validator that checks several fields together says which one is at fault by
    starting its message with ``field: ``; that field joins the path.
    """
    messages = []
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if not _is_union_tag(part))
        message = str(item["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        field = _FIELD_PREFIX.match(message)
        if field and item["type"] == "value_error":
            loc, message = (*loc, field[1]), field[2]
        if item["type"].endswith(("_type", "_parsing")) and item["type"] != "missing":
            value = item.get("input")
            message += f", not {type(value).__name__} {_short(value)}"
        message = re.sub(r" or instance of \w+", "", message)
        messages.append(f"{format_loc(loc, prefix)}: {message}")
    return list(dict.fromkeys(messages))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_union_tag(part: int | str) -> bool:
    return isinstance(part, str) and (part.startswith("function-") or part in {"str", "int"})


def unknown_fields(model: BaseModel, path: str = "", skip: frozenset[str] = frozenset()) -> list[str]:
    """Paths of the fields a user wrote that this version does not understand."""
    found: list[str] = []
    for key in model.model_extra or {}:
        if key not in skip:
            found.append(f"{path}.{key}" if path else key)
    for name in type(model).model_fields:
        value = getattr(model, name)
        alias = type(model).model_fields[name].alias or name
        child = f"{path}.{alias}" if path else alias
        if isinstance(value, BaseModel):
            found += unknown_fields(value, child)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += unknown_fields(item, f"{child}[{index}]")
    return found
