#!/usr/bin/env python3
"""A stand-in for iptables: records every argv (one JSON line each) in
$STANDIN_IPTABLES_LOG; ``-C`` (check) finds a rule only if an ``-A`` added it before."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

LOG = Path(os.environ["STANDIN_IPTABLES_LOG"])


def main(argv: list[str]) -> int:
    earlier = [json.loads(line) for line in LOG.read_text().splitlines()] if LOG.exists() else []
    with open(LOG, "a") as log:
        log.write(json.dumps(argv) + "\n")
    if "-C" in argv:
        wanted = ["-A" if word == "-C" else word for word in argv]
        return 0 if wanted in earlier else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
