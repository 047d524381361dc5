"""A stateful Compute Engine API emulator that the real ``google-cloud-compute`` client can drive.

It serves the subset firecontrol uses (instances, target pools, forwarding rules,
addresses, firewalls, HTTP health checks and their operations) at ``/compute/v1``,
and an admin surface at ``/emulator`` for faults, delays, quotas, state dumps and
request counts. It refuses what Compute Engine refuses (zones and machine types in
``catalog``, labels, metadata and tags in ``limits``, the CPUS quota, references
across regions). It also runs a simulated pod agent on every RUNNING instance whose
metadata has ``fc-agent`` (``agent``), reporting with tokens signed by a key it publishes
at ``/oauth2/v1/certs`` (``identity``), and serves ``setMetadata``, serial port output and
``targetPools.getHealth`` from the agents' view. See ``server.ComputeEmulator``; its
``stop()`` stops the agents' thread too.
"""

from .faults import FaultRule
from .model import Quotas, Timing
from .server import ComputeEmulator

__all__ = ["ComputeEmulator", "FaultRule", "Quotas", "Timing"]
