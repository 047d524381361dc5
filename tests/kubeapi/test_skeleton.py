"""The skeleton answers an unknown path as Kubernetes does: a 404 Status."""

from flask.testing import FlaskClient


def test_an_unknown_path_is_a_404_status(api: FlaskClient) -> None:
    reply = api.get("/nothing/here")
    assert reply.status_code == 404
    assert reply.json is not None and reply.json["kind"] == "Status" and reply.json["reason"] == "NotFound"
