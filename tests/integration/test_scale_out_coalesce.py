"""Coalesced owner passes on the real Firestore emulator: the first change of a slot runs
the pass at once (a slow start round is not held for a slot), a second one defers it to
the next half-interval slot, the rest skip; never more than two passes an interval."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from functions.coalesce import coalesced_pass
from functions.runtime import Runtime

INTERVAL = 1.0


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at

    def __call__(self) -> datetime:
        return self.now


def runtime(rt: Runtime, clock: Clock) -> Runtime:
    return replace(rt, clock=clock, settings=replace(rt.settings, controller_write_interval=INTERVAL))


def test_the_first_change_runs_at_once_the_second_waits_for_the_next_slot_the_rest_skip(rt: Runtime) -> None:
    # 0.1 s into a half-interval slot
    clock = Clock(datetime.fromtimestamp(1_800_000_000.1, UTC))
    fast = runtime(rt, clock)
    ran: list[datetime] = []
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the clock stands still: every ask is in the first slot
        slept.append(seconds)

    def ask() -> bool:
        return coalesced_pass(fast, "default", "ReplicationController", "web", lambda: ran.append(clock()), sleep)

    assert ask() is True and slept == []  # the leading edge: no wait
    assert ask() is True  # the next slot's pass, after a wait to its start
    assert len(slept) == 1 and 0.4 < slept[0] < 0.5, slept
    assert ask() is False and ask() is False  # both taken: the next slot's pass reads after these
    assert len(ran) == 2
    clock.now += timedelta(seconds=0.5)  # in the next slot, whose pass has run: the one after it
    assert ask() is True and len(slept) == 2


def test_a_burst_of_changes_makes_at_most_two_passes_an_interval(rt: Runtime) -> None:
    clock = Clock(datetime.fromtimestamp(1_800_000_100.0, UTC))
    fast = runtime(rt, clock)
    ran: list[float] = []
    woke: list[float] = []  # each sleeper runs its pass when it wakes; the changes go on meanwhile

    def sleep(seconds: float) -> None:
        woke.append(clock.now.timestamp() + seconds)

    def run() -> None:
        ran.append(woke.pop() if woke else clock.now.timestamp())

    for _ in range(40):  # a change every 0.05 s for 2 s, each asking for the owner's pass
        coalesced_pass(fast, "default", "ReplicationController", "burst", run, sleep)
        clock.now += timedelta(seconds=0.05)
    times = sorted(ran)
    busiest = max(sum(0 <= u - t < INTERVAL for u in times) for t in times)
    assert busiest <= 3 and len(ran) <= 2 * 2 + 1, times
    # every change is seen by a pass that started after it: the last change's slot ran one
    assert times[-1] >= 1_800_000_100.0 + 1.9


def test_no_interval_runs_every_pass(rt: Runtime) -> None:
    ran: list[int] = []
    plain = replace(rt, settings=replace(rt.settings, controller_write_interval=0.0))
    for _ in range(3):
        assert coalesced_pass(plain, "default", "ReplicationController", "x", lambda: ran.append(1))
    assert len(ran) == 3
