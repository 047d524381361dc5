"""PATCH bodies: JSON patch, JSON merge patch and strategic merge patch, by Content-Type.

``apply_patch`` answers the patched object; the verbs then validate and store it like an
update (docs/kube-api.md §6). Errors are the apiserver's: a body that is not JSON or not
the patch type's shape → 400, a JSON patch operation that cannot apply (a failing
``test``, a missing path) → 422, an unsupported type → 415, server-side apply → 415
with the way out.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import json_merge_patch  # type: ignore[import-untyped]
import jsonpatch
import jsonpointer

from functions.kubeapi import codec, openapi, strategic
from functions.kubeapi.status import ApiError, bad_request, unsupported_media_type

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
SUPPORTED = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)
NO_SERVER_SIDE_APPLY = (
    "server-side apply is not supported by firecontrol; use client-side kubectl apply "
    "(kubectl apply without --server-side)"
)


def apply_patch(current: dict[str, Any], body: bytes, content_type: str, gvk: tuple[str, str, str]) -> dict[str, Any]:
    """``current`` (the object as served) with the patch in ``body`` applied; ``current`` is not modified."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == APPLY_PATCH:
        raise unsupported_media_type(NO_SERVER_SIDE_APPLY)
    if media_type not in SUPPORTED:
        raise unsupported_media_type(
            f"the body of the request was in an unknown format - accepted media types include: {', '.join(SUPPORTED)}")
    patch = _decode(body)
    if media_type == JSON_PATCH:
        result = _json_patch(current, patch)
    elif media_type == MERGE_PATCH:
        result = json_merge_patch.merge(copy.deepcopy(current), patch)
    else:
        if not isinstance(patch, dict):
            raise bad_request(f"the strategic merge patch must be a JSON object, not {_json_type(patch)}")
        try:
            result = strategic.apply(current, patch, openapi.patch_meta(gvk))
        except strategic.PatchError as e:
            raise bad_request(str(e)) from None
    if not isinstance(result, dict):
        raise bad_request(f"the patched object must be a JSON object, not {_json_type(result)}")
    return result


def _decode(body: bytes) -> Any:
    try:
        return codec.loads_json(body, "the patch")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad_request(f"error decoding patch: {e}") from None


def _json_patch(current: dict[str, Any], operations: Any) -> Any:
    if not isinstance(operations, list):
        raise bad_request(f"json: cannot unmarshal {_json_type(operations)} into Go value of type jsonpatch.Patch")
    try:
        patch = jsonpatch.JsonPatch(operations)
    except (jsonpatch.InvalidJsonPatch, jsonpointer.JsonPointerException, TypeError, AttributeError) as e:
        raise bad_request(f"invalid JSON patch: {e}") from None
    try:
        return patch.apply(current)  # copies: current is left as it was
    except jsonpatch.JsonPatchTestFailed as e:
        raise _unprocessable(f"testing value failed: {e}") from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
        raise _unprocessable(str(e)) from None
    except (KeyError, IndexError, TypeError) as e:
        raise _unprocessable(f"the patch does not apply to the object: {e}") from None


def _unprocessable(message: str) -> ApiError:
    """The apiserver answers 422 when a well-formed JSON patch does not apply."""
    return ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {message}")


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
