"""The idle tick's check: do the pods Running on VMs and the VMs that run agree?

Every pod Running on its VM keeps ``status.vmFingerprint`` = ``vm_term(instance)``:
2**32 plus a 31-bit hash of the VM's name. The sum over a namespace's pods is one
Firestore aggregation (one read per 1,000 pods); the same sum over the RUNNING VMs
comes from the aggregatedList resync makes anyway. The high bits count, the low bits
name: two sums agree only when the same number of pods and VMs pair up by name (bar
a 31-bit hash collision, which the periodic full sweep covers too). A pod that is
Pending, Failed or gone, or a VM that is not RUNNING or has no pod, makes them differ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

COUNT_UNIT = 1 << 32
FIELD = "status.vmFingerprint"
# Written with a pod's deletionTimestamp: a pod on its way out no longer pairs with its VM.
LEAVING = 0


def vm_term(instance: str) -> int:
    digest = hashlib.sha256(instance.encode()).digest()
    return COUNT_UNIT + (int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF)


def total(instances: Iterable[str]) -> int:
    return sum(vm_term(name) for name in instances)


def count_of(fingerprint_sum: int) -> int:
    """How many terms a sum holds (fewer than 2**31 of them)."""
    return fingerprint_sum // COUNT_UNIT
