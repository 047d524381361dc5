"""A stateful Cloud Scheduler API emulator that the real ``google-cloud-scheduler`` client can drive.

It serves the v1 jobs API (create, get, list, patch, delete, pause, resume, run) at
``/v1`` in Google's REST JSON (enums as numbers when the client asks
``$alt=json;enum-encoding=int``, as names otherwise), fires each ENABLED job's HTTP
target on its unix-cron schedule (croniter, in the job's time zone) with an unsigned
OIDC-style token, and keeps an admin surface at ``/emulator`` (attempts, clock,
state, reset). Its clock can run sped up or frozen. See ``server.SchedulerEmulator``.
"""

from .clock import Clock
from .dispatch import Attempt, decode_token, oidc_token
from .server import SchedulerEmulator

__all__ = ["Attempt", "Clock", "SchedulerEmulator", "decode_token", "oidc_token"]
