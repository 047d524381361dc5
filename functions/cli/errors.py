"""The CLI's own failures: each carries the message a person reads and the exit code a
script reads, so verbs raise and only ``main`` prints and exits."""

from __future__ import annotations

OK = 0
FAILED = 1  # the request failed: invalid input, not found, a --wait that timed out
USAGE = 2  # argparse's code for a command line it cannot use
INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


class CliError(Exception):
    """A request that failed; ``lines`` are printed to stderr, one problem each."""

    def __init__(self, *lines: str, code: int = FAILED) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)
        self.code = code
