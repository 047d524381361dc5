"""The agent runs containers as docker is told, verbatim, and restarts them by policy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.agent.support import Agent, base_items, wait_for

Start = Callable[[dict[str, str]], Agent]

HOSTILE = [
    "$(touch {canary})",
    "`touch {canary}`",
    "; touch {canary} #",
    "'\"\\ && touch {canary} | cat",
    "line one\nline two\n\n",
    "--privileged",
    "-e",
    "${{HOME}} * ? [a] ~",
    "ünïcödé ☃ \t tab",
    "with spaces  and  more",
]


def test_hostile_strings_are_each_one_argument(agent: Start, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    words = [w.format(canary=canary) for w in HOSTILE]
    items = base_items([{"name": "app", "image": "busybox:1.36"}])
    items.update({"fc-c0-command": "3", "fc-c0-args": str(len(words) - 3), "fc-c0-env": str(len(words))})
    items.update({f"fc-c0-command{j}": w for j, w in enumerate(words[:3])})
    items.update({f"fc-c0-arg{j}": w for j, w in enumerate(words[3:])})
    for j, w in enumerate(words):
        items[f"fc-c0-env{j}-name"] = f"V{j}"
        items[f"fc-c0-env{j}-value"] = w
    a = agent(items)
    [argv] = wait_for(lambda: a.runs("app"), what="docker run")
    expected = ["run", "--detach", "--network=host", "--name", "app"]
    expected += [x for j, w in enumerate(words) for x in ("--env", f"V{j}={w}")]
    expected += ["--entrypoint", words[0], "--", "busybox:1.36", *words[1:3], *words[3:]]
    assert argv == expected
    assert "--restart" not in argv  # the agent restarts, not docker
    assert not canary.exists()
