"""Dispatch of ``set image``, ``rollout ACTION`` and ``rolling-update`` to their modules."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from functions.cli import kinds
from functions.cli.errors import USAGE, CliError
from functions.cli.output import Output

if TYPE_CHECKING:
    from functions.store import Store


def dispatch(
    args: argparse.Namespace, namespace: str, max_replicas: Callable[[], int], store: Callable[[], Store], out: Output,
) -> int:
    if args.verb == "set":
        from functions.cli import images

        words, pairs = images.split_args(args.args)
        kind, name = kinds.kind_and_name(words, kinds.SCALABLE)
        return images.set_image(store(), kind, name, namespace, pairs, max_replicas(), out)
    if args.verb == "rollout":
        return _rollout(args, namespace, store, out)
    from functions.cli import rolling_update

    rolling_update.check_usage(args)  # a command line it cannot use: exit 2 before connecting
    return rolling_update.run(store(), args, namespace, max_replicas(), out)


def _rollout(args: argparse.Namespace, namespace: str, store: Callable[[], Store], out: Output) -> int:
    from functions.cli import rollout

    words: list[str] = args.target
    if len(words) == 1 and "/" not in words[0]:
        raise CliError(f"error: expected deployment/NAME (or deployment NAME), not {words[0]!r}", code=USAGE)
    kind, name = kinds.kind_and_name(words, kinds.KINDS)
    if kind is not kinds.DEPLOYMENT:
        raise CliError(f"error: no rollout {args.action} has been implemented for {kind.kind!r}; "
                       "rollout works on deployments", code=USAGE)
    action: str = args.action
    if action == "status":
        return rollout.status(store(), name, namespace, args.watch, args.timeout, args.revision, out)
    if action == "history":
        return rollout.history(store(), name, namespace, args.revision, out)
    if action == "undo":
        return rollout.undo(store(), name, namespace, args.to_revision, out)
    if action == "restart":
        return rollout.restart(store(), name, namespace, out)
    return rollout.set_paused(store(), name, namespace, action == "pause", out)
