"""Concurrent passes and duplicated, reordered events never overshoot the replica count."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from emulator.firestore import FirestoreEmulator
from emulator.router import Delivery, TriggerRouter
from functions.controllers.replication import sync_controller
from functions.handlers import decode_event, on_controller_change
from functions.runtime import Runtime
from functions.store import CONTROLLERS, Store, doc_path
from tests.helpers import active, rc_doc, wait_for, write_rc


@contextmanager
def observer(store: Store) -> Iterator[Callable[[], int]]:
    """Watch the active pod count the whole time; yield a function giving the highest seen."""
    highest = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal highest
        while not stop.is_set():
            highest = max(highest, len(active(store)))
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield lambda: highest
    finally:
        stop.set()
        thread.join()
    highest = max(highest, len(active(store)))


def test_eight_concurrent_passes_create_exactly_ten(rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 10))
    barrier = threading.Barrier(8)

    def one_pass(_: int) -> int:
        barrier.wait()
        return sync_controller(rt.store, rt.settings, "default", "web", rt.clock).created

    with observer(rt.store) as highest, ThreadPoolExecutor(8) as pool:
        created = list(pool.map(one_pass, range(8)))
    assert sum(created) == 10
    assert highest() <= 10
    assert len(active(rt.store)) == 10


def test_events_delivered_twice_and_in_reverse_order(
    rt: Runtime, router: TriggerRouter, firestore_emulator: FirestoreEmulator, project: str
) -> None:
    """Real events from the emulator, recorded and replayed twice, newest first, at once."""
    firestore_emulator.register_trigger(project, "sync_controller", "namespaces/{ns}/replicationControllers/{name}")
    path = doc_path("default", CONTROLLERS, "web")
    write_rc(rt.store, rc_doc("web", 0))
    for replicas in (3, 7, 10):
        rt.store.client.document(path).update({"spec.replicas": replicas})
    recorded: list[Delivery] = wait_for(lambda: router.recorded(project)[3:] and router.recorded(project))
    assert len(recorded) == 4  # created, then three updates

    replay = list(reversed(recorded)) * 2
    barrier = threading.Barrier(len(replay))

    def deliver(delivery: Delivery) -> None:
        change = decode_event({"subject": delivery.headers.get("ce-subject")}, delivery.body)
        assert change is not None
        barrier.wait()
        on_controller_change(change, rt)

    with observer(rt.store) as highest, ThreadPoolExecutor(len(replay)) as pool:
        list(pool.map(deliver, replay))
    assert highest() <= 10
    assert len(active(rt.store)) == 10
