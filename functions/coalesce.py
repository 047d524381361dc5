"""Many pods, one owner: an owner's passes asked for by its pods, at most one per half slot.

Every pod's phase change asks for its controller's pass, and a hundred of them at once
made the controller document a write hot spot (passes failing their guarded commits
again and again). So those passes are coalesced per owner, on a clock of slots half a
``controller_write_interval`` long, each with at most one pass:

- the first change of a free slot creates the lease document
  ``namespaces/{ns}/leases/{kind}.{name}.{slot}`` and runs the pass at once (the leading
  edge), so a slow start round is clocked by the inserts Compute Engine accepts, not by
  the slot;
- a change in a slot already taken creates the next slot's lease, waits for that slot's
  start and runs the pass then, reading after its pod's change was committed; every
  other change finds both leases taken and skips, since that pass reads after it too.

So an owner is written by its pods' passes at most twice in each aligned interval (any
sliding second may hold three), and a change is seen within half an interval. That holds while the instances' clocks agree within
``LEASE_MARGIN`` (Cloud Run's are NTP-synced to milliseconds) and the deferred pass
succeeds: a pass that fails with a retryable error is retried in a new slot; one that
fails for good leaves the slot's changes to the next resync tick.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from functions.logs import ref_fields
from functions.runtime import Runtime

LEASES = "leases"
LEASE_TTL = timedelta(minutes=10)  # a lease is worth nothing after its slot; Firestore TTL reads expireAt
# The slot's start as each instance's clock sees it; clocks agree far better than this.
LEASE_MARGIN = 0.05
SLOTS_PER_INTERVAL = 2

log = logging.getLogger("firecontrol.coalesce")


def lease_path(namespace: str, kind: str, name: str, slot: int) -> str:
    return f"namespaces/{namespace}/{LEASES}/{kind}.{name}.{slot}"


def coalesced_pass(rt: Runtime, namespace: str, kind: str, name: str, run: Callable[[], Any],
                   sleep: Callable[[float], None] = time.sleep) -> bool:
    """``run()``, the owner's pass, at most twice per ``controller_write_interval`` however
    many of its pods ask: True if this call ran it, False if a pass of this slot or the
    next, reading after our change, runs it."""
    interval = rt.settings.controller_write_interval
    if interval <= 0:
        run()
        return True
    length = interval / SLOTS_PER_INTERVAL
    now = rt.clock()
    slot = int(now.timestamp() // length)
    lease = {"holder": "pass_on", "slot": slot, "expireAt": now + LEASE_TTL}
    if rt.store.create(lease_path(namespace, kind, name, slot), lease):
        run()
        return True
    if not rt.store.create(lease_path(namespace, kind, name, slot + 1), {**lease, "slot": slot + 1}):
        log.debug("owner pass coalesced", extra=ref_fields(kind, namespace, name, slot=slot))
        return False
    sleep(max(0.0, (slot + 1) * length - rt.clock().timestamp() + LEASE_MARGIN))
    run()
    return True
