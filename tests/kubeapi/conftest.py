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


@pytest.fixture
def api(rt: Runtime) -> FlaskClient:
    """A client of ``kube_api`` serving this test's project: ``api.get("/api/v1/pods")``."""
    app = flask.Flask("kube_api_test")

    @app.route("/", defaults={"path": ""}, methods=METHODS)
    @app.route("/<path:path>", methods=METHODS)
    def serve(path: str) -> flask.Response:
        return handle(rt, flask.request)

    return app.test_client()


@pytest.fixture
def cloud_api(crt: Runtime) -> FlaskClient:
    """``api`` with a cloud provider (the Compute emulator): for what reads a VM, like logs."""
    app = flask.Flask("kube_api_cloud_test")

    @app.route("/", defaults={"path": ""}, methods=METHODS)
    @app.route("/<path:path>", methods=METHODS)
    def serve(path: str) -> flask.Response:
        return handle(crt, flask.request)

    return app.test_client()
