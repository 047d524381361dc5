"""Kinds as the CLI's words name them: ``rc``, ``pods``, ``rc/web``.

The table itself is ``functions.api.kinds``, shared with the functions and ``kube_api``.
"""

from __future__ import annotations

from functions.api.kinds import (
    CONTROLLER as CONTROLLER,
)
from functions.api.kinds import (
    DEPLOYMENT as DEPLOYMENT,
)
from functions.api.kinds import (
    EVENT as EVENT,
)
from functions.api.kinds import (
    KINDS as KINDS,
)
from functions.api.kinds import (
    POD as POD,
)
from functions.api.kinds import (
    QUOTA as QUOTA,
)
from functions.api.kinds import (
    REPLICA_SET as REPLICA_SET,
)
from functions.api.kinds import (
    SCALABLE as SCALABLE,
)
from functions.api.kinds import (
    SERVICE as SERVICE,
)
from functions.api.kinds import (
    WRITABLE as WRITABLE,
)
from functions.api.kinds import (
    Kind as Kind,
)
from functions.cli.errors import USAGE, CliError


def by_alias(text: str, allowed: tuple[Kind, ...] = KINDS) -> Kind:
    """``rc``, ``pods``, ``Service`` ... -> the Kind; a usage error names the choices."""
    wanted = text.lower()
    for kind in allowed:
        if wanted in kind.aliases or wanted == kind.kind.lower():
            return kind
    choices = ", ".join(f"{k.plural} ({k.aliases[0]})" for k in allowed)
    raise CliError(f"error: unknown resource type {text!r}; use one of: {choices}", code=USAGE)


def kind_and_name(words: list[str], allowed: tuple[Kind, ...] = KINDS) -> tuple[Kind, str]:
    """``rc web`` or ``rc/web`` -> (Kind, name), as kubectl accepts both."""
    if len(words) == 1 and "/" in words[0]:
        words = words[0].split("/", 1)
    if len(words) != 2 or not words[1]:
        raise CliError("error: expected KIND NAME (or KIND/NAME), e.g. 'rc web'", code=USAGE)
    return by_alias(words[0], allowed), words[1]
