"""Many pods, one owner: an owner's passes asked for by its pods, at most one per slot.

Every pod's phase change asks for its controller's pass, and a hundred of them at once
made the controller document a write hot spot (passes failing their guarded commits
again and again). So those passes are coalesced: per owner and per
``controller_write_interval`` slot of the clock, the first to create the lease document
``namespaces/{ns}/leases/{kind}.{name}.{slot}`` waits for the slot's end and runs one
pass, reading then; the others skip, since that read comes after their pod's change was
committed. That holds while the instances' clocks agree within ``LEASE_MARGIN`` (Cloud
Run's are NTP-synced to milliseconds) and the winner's pass succeeds: a pass that fails
with a retryable error is retried in a new slot; one that fails for good leaves the
slot's changes to the next resync tick.
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
# The slot's end as each instance's clock sees it; clocks agree far better than this.
LEASE_MARGIN = 0.05

log = logging.getLogger("firecontrol.coalesce")


def coalesced_pass(rt: Runtime, namespace: str, kind: str, name: str, run: Callable[[], Any],
                   sleep: Callable[[float], None] = time.sleep) -> bool:
    """``run()``, the owner's pass, at most once per ``controller_write_interval`` however
    many of its pods ask: True if this call ran it, False if the slot's pass will see our change."""
    interval = rt.settings.controller_write_interval
    if interval <= 0:
        run()
        return True
    now = rt.clock()
    slot = int(now.timestamp() // interval)
    lease = f"namespaces/{namespace}/{LEASES}/{kind}.{name}.{slot}"
    if not rt.store.create(lease, {"holder": "pass_on", "slot": slot, "expireAt": now + LEASE_TTL}):
        log.debug("owner pass coalesced", extra=ref_fields(kind, namespace, name, slot=slot))
        return False
    sleep(max(0.0, (slot + 1) * interval - rt.clock().timestamp() + LEASE_MARGIN))
    run()
    return True
