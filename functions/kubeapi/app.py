"""The handler chain: decode, route, dispatch to a verb, encode; every error a ``Status``.

(Skeleton: the kube_api helper fills this in; see docs/kube-api.md.)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from flask import Response

from functions.kubeapi.status import ApiError, not_found

if TYPE_CHECKING:
    from flask import Request

    from functions.runtime import Runtime


def handle(rt: Runtime, request: Request) -> Response:
    error: ApiError = not_found("", "")
    error.message = "the server could not find the requested resource"
    return Response(json.dumps(error.to_status()), status=error.code, mimetype="application/json")
