"""``kube_api`` in process: its real handler (``functions.kubeapi.app.handle``) behind a
Flask test client, on the real Firestore emulator (one project per test, the ``rt``
fixture). The end-to-end tests drive the real kubectl against the local stack instead."""

from __future__ import annotations

import flask
import pytest
from flask.testing import FlaskClient

from functions.kubeapi.app import handle
from functions.runtime import Runtime

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _client(rt: Runtime, name: str) -> FlaskClient:
    """The real handler behind a Flask test client, serving ``rt``'s project."""
    app = flask.Flask(name)

    @app.route("/", defaults={"path": ""}, methods=METHODS)
    @app.route("/<path:path>", methods=METHODS)
    def serve(path: str) -> flask.Response:
        return handle(rt, flask.request)

    return app.test_client()


@pytest.fixture
def api(rt: Runtime) -> FlaskClient:
    """A client of ``kube_api`` serving this test's project: ``api.get("/api/v1/pods")``."""
    return _client(rt, "kube_api_test")


@pytest.fixture
def cloud_api(crt: Runtime) -> FlaskClient:
    """``api`` with a cloud provider (the Compute emulator): for what reads a VM, like logs."""
    return _client(crt, "kube_api_cloud_test")
