"""Kubernetes' strategic merge patch, applied on the server side.

The rules (k8s.io/apimachinery ``strategicpatch``, the apiserver's behaviour, which
``kubectl apply`` / ``edit`` / ``patch`` rely on):

- maps merge key by key; ``null`` deletes a key;
- a list whose field has ``x-kubernetes-patch-strategy: merge`` merges: items that are
  maps by the field's merge key (``containers`` by ``name``), scalars as a union;
  every other list is replaced;
- directives: ``$patch: replace`` (use the patch's map or list as is), ``$patch:
  delete`` (in a map: empty it; in a merging list's item: remove the item with that
  merge key), ``$retainKeys: [...]`` (drop the original's other keys),
  ``$deleteFromPrimitiveList/<f>: [...]`` (remove scalars from ``f``),
  ``$setElementOrder/<f>: [...]`` (the order of ``f``'s items after the merge);
- the result's order: ``$setElementOrder`` first, then the patch's order, then the
  current object's, interleaved as Kubernetes does.

Merge keys and strategies come from our OpenAPI schema (``openapi.PatchMeta``). Errors
raise ``PatchError`` with Kubernetes' wording; ``patch`` turns it into a 400.
Inputs are never modified.
"""

from __future__ import annotations

import copy
from typing import Any

from functions.kubeapi.openapi import PatchMeta

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM = "$deleteFromPrimitiveList/"
SET_ORDER = "$setElementOrder/"


class PatchError(ValueError):
    """The patch is malformed: an unknown directive, a missing merge key, a bad order list."""


def apply(current: dict[str, Any], patch: dict[str, Any], meta: PatchMeta) -> dict[str, Any]:
    """``current`` with the strategic merge ``patch`` applied (both left untouched)."""
    return _merge_map(copy.deepcopy(current), copy.deepcopy(patch), meta)


def _merge_map(original: dict[str, Any] | None, patch: dict[str, Any], meta: PatchMeta) -> dict[str, Any]:
    if DIRECTIVE in patch:
        directive = patch.pop(DIRECTIVE)
        if directive == "replace":
            replaced: dict[str, Any] = _clean(patch)
            return replaced
        if directive == "delete":
            return {}
        raise PatchError(f"unknown patch type: {directive} in map: {patch}")
    result: dict[str, Any] = {} if original is None else original
    _retain_keys(result, patch)
    _set_element_orders(result, patch, meta)
    # Deletions from primitive lists first, then everything else, in the patch's order.
    keys = sorted(patch, key=lambda k: not k.startswith(DELETE_FROM))
    for key in keys:
        value = patch[key]
        if key.startswith(DELETE_FROM):
            field = key[len(DELETE_FROM):]
            if not isinstance(value, list):
                raise PatchError("invalid patch format of deleteFromPrimitiveList")
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if not any(_same(v, d) for d in value)]
            continue
        if key.startswith("$"):
            raise PatchError(f"unknown directive {key!r} in patch")
        if value is None:
            result.pop(key, None)
            continue
        if key not in result or _shape(result[key]) != _shape(value):
            cleaned = _clean(_drop_nulls(value))
            if cleaned is _GONE:
                result.pop(key, None)
            else:
                result[key] = cleaned
            continue
        sub, strategies, merge_key = meta.field(key)
        strategy = _strategy(strategies)
        if isinstance(value, dict):
            result[key] = _clean(value) if strategy == "replace" else _merge_map(result[key], value, sub)
        elif isinstance(value, list):
            result[key] = _merge_list(result[key], value, sub, merge_key) if strategy == "merge" else _clean(value)
        else:
            result[key] = value
    return result


def _strategy(strategies: tuple[str, ...]) -> str:
    """The strategy besides ``retainKeys`` (``merge``, ``replace`` or none)."""
    others = [s for s in strategies if s != "retainKeys"]
    if len(others) > 1 or len(strategies) > 2:
        raise PatchError(f"unexpected patch strategy: {list(strategies)}")
    return others[0] if others else ""


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list):
        raise PatchError("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is not None and not key.startswith("$") and key not in keep:
            raise PatchError("invalid patch format of retainKeys")
    for key in [k for k in original if k not in keep]:
        del original[key]


def _set_element_orders(original: dict[str, Any], patch: dict[str, Any], meta: PatchMeta) -> None:
    for key in [k for k in patch if k.startswith(SET_ORDER)]:
        order = patch.pop(key)
        field = key[len(SET_ORDER):]
        if not field or not isinstance(order, list):
            raise PatchError("invalid patch format of setElementOrder list")
        current, patched = original.get(field), patch.pop(field, None)
        if current is not None and not isinstance(current, list):
            raise PatchError(f"invalid type for {field}: expected a list")
        if patched is not None and not isinstance(patched, list):
            raise PatchError(f"invalid type for {field}: expected a list")
        sub, strategies, merge_key = meta.field(field)
        _check_order(patched or [], order, merge_key)
        if current is None and patched is None:
            continue
        if current is None:
            merged = _clean(patched)
        elif patched is None:
            merged = current
        elif _strategy(strategies) == "merge":
            merged = _merge_list(current, patched, sub, merge_key)
        else:
            merged = _clean(patched)
        ordered = [i for i in merged if _index(order, i, merge_key) >= 0]
        rest = [i for i in merged if _index(order, i, merge_key) < 0]
        original[field] = _normalize(ordered, rest, order, current or [], merge_key)


def _check_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    """Every item the patch sets must appear in ``$setElementOrder``, in the same order."""
    items = [i for i in patch_list if not (isinstance(i, dict) and DIRECTIVE in i)]
    if merge_key:
        for item in [*items, *order]:
            if not isinstance(item, dict) or merge_key not in item:
                raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}")
    position = 0
    for item in items:
        while position < len(order) and not _same_key(item, order[position], merge_key):
            position += 1
        if position == len(order):
            raise PatchError(f"The order in patch list:\n{patch_list}\n doesn't match $setElementOrder list:\n{order}\n")
        position += 1


def _merge_list(original: list[Any], patch: list[Any], meta: PatchMeta, merge_key: str) -> list[Any]:
    if not original and not patch:
        return original
    kinds = {_shape(i) for i in [*original, *patch]}
    if "list" in kinds:
        raise PatchError("lists of lists are not supported")
    if len(kinds) > 1:
        raise PatchError("the items of a merging list must all have the same type")
    if kinds != {"map"}:
        merged: list[Any] = []
        for item in [*original, *patch]:
            if not any(_same(item, m) for m in merged):
                merged.append(item)
        patch_items = [i for i in merged if any(_same(i, p) for p in patch)]
        server_only = [i for i in merged if not any(_same(i, p) for p in patch)]
        return _normalize(patch_items, server_only, patch, original, "")
    if not merge_key:
        raise PatchError("cannot merge lists without merge key")
    base, plain, replaced = _special_items(original, patch, merge_key)
    if replaced:
        return base
    for item in plain:
        if merge_key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}")
        at = next((n for n, o in enumerate(base) if _same(o.get(merge_key), item[merge_key])), -1)
        if at >= 0:
            base[at] = _merge_map(base[at], item, meta)
        else:
            cleaned = _clean(_drop_nulls(item))
            if cleaned is not _GONE:
                base.append(cleaned)
    patch_items = [i for i in base if any(_same_key(i, p, merge_key) for p in plain)]
    server_only = [i for i in base if not any(_same_key(i, p, merge_key) for p in plain)]
    return _normalize(patch_items, server_only, plain, original, merge_key)


def _special_items(original: list[Any], patch: list[Any], merge_key: str) -> tuple[list[Any], list[Any], bool]:
    """Apply the ``$patch`` items of a merging list: the base list, the plain items, and
    whether ``$patch: replace`` made the plain items the whole list."""
    plain, replace = [], False
    base = list(original)
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}")
            base = [o for o in base if not _same(o.get(merge_key), item[merge_key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise PatchError(f"unknown patch type: {directive} in map: {item}")
    if replace:
        return [c for c in (_clean(i) for i in plain) if c is not _GONE], [], True
    return base, plain, False


def _normalize(patch_items: list[Any], server_only: list[Any], patch_order: list[Any],
               server_order: list[Any], merge_key: str) -> list[Any]:
    """Patch items in the patch's order, server-only items in the server's, interleaved
    where the server's order relates them (Kubernetes' ``normalizeElementOrder``)."""
    def by(order: list[Any]) -> Any:
        return lambda item: (_index(order, item, merge_key) < 0, max(_index(order, item, merge_key), 0))

    left = sorted(server_only, key=by(server_order))
    right = sorted(patch_items, key=by(patch_order))
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            out.append(left[i])
            i += 1
        elif i >= len(left):
            out.append(right[j])
            j += 1
        else:
            li, ri = _index(server_order, left[i], merge_key), _index(server_order, right[j], merge_key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _index(items: list[Any], item: Any, merge_key: str) -> int:
    return next((n for n, other in enumerate(items) if _same_key(item, other, merge_key)), -1)


def _same_key(a: Any, b: Any, merge_key: str) -> bool:
    if not merge_key:
        return _same(a, b)
    return isinstance(a, dict) and isinstance(b, dict) and merge_key in a and _same(a.get(merge_key), b.get(merge_key))


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``True != 1``."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else bool(a == b)


def _shape(value: Any) -> str:
    return "map" if isinstance(value, dict) else "list" if isinstance(value, list) else "scalar"


class _Gone:
    pass


_GONE: Any = _Gone()


def _clean(value: Any) -> Any:
    """A value as stored: ``$patch`` maps dropped, other ``$`` directives removed."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return _GONE
        out = {}
        for key, item in value.items():
            if key.startswith("$"):
                continue
            cleaned = _clean(item)
            if cleaned is not _GONE:
                out[key] = cleaned
        return out
    if isinstance(value, list):
        return [c for c in (_clean(i) for i in value) if c is not _GONE]
    return value


def _drop_nulls(value: Any) -> Any:
    """A new value carries no ``null``: there is nothing for it to delete."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value
