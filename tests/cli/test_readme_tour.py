"""The README's tour lines for Deployments and rolling-update, as written there: each
parses, and those that need no controller run against the Firestore emulator."""

from __future__ import annotations

import shlex

import pytest

from functions.cli.app import build_parser
from functions.store import Store
from tests.cli.support import SHARED_FIXTURES, Cli, data

TOUR = [
    "apply -f tests/fixtures/guestbook/ -n guestbook",
    "rollout status deployment/frontend -n guestbook",
    "set image deployment/frontend php-redis=nginx:1.28 -n guestbook",
    "rollout undo deployment/frontend -n guestbook",
    "rolling-update web --image nginx:1.28 --update-period 5s",
]


@pytest.mark.parametrize("line", TOUR)
def test_tour_line_parses(line: str) -> None:
    args = build_parser().parse_args(shlex.split(line))
    assert args.verb == shlex.split(line)[0]


def test_tour_against_the_documents(cli: Cli, store: Store) -> None:
    applied = cli("apply", "-f", str(SHARED_FIXTURES / "guestbook"), "-n", "guestbook")
    assert applied.code == 0, applied.err
    assert "deployment.apps/frontend created" in applied.out
    status = cli("rollout", "status", "deployment/frontend", "-n", "guestbook", "--watch=false")
    assert (status.code, status.out) == (0, "Waiting for deployment spec update to be observed...\n"), status.err
    image = cli("set", "image", "deployment/frontend", "php-redis=nginx:1.28", "-n", "guestbook")
    assert image.code == 0, image.err
    spec = (data(store, "namespaces/guestbook/deployments/frontend") or {})["spec"]
    assert spec["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    undo = cli("rollout", "undo", "deployment/frontend", "-n", "guestbook")  # no controller ran: no ReplicaSets
    assert undo.code == 1 and 'no rollout history found for deployment "frontend"' in undo.err
    rolling = cli("rolling-update", "web", "--image", "nginx:1.28", "--update-period", "5s")
    assert rolling.code == 1 and 'replicationcontrollers "web" not found' in rolling.err
