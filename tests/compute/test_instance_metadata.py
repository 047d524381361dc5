"""The gce provider writes a VM's metadata (merged, owner-checked, fingerprinted) and reads
its serial output, through the real client on the Compute emulator."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from emulator.compute.faults import FaultRule
from emulator.compute.model import Key
from functions.cloudprovider import NameConflictError, NotFoundError, Owner, TemporaryError
from tests.compute.support import PROJECT, ZONE, seed

POD = Owner(cluster="fc", namespace="default", kind="Pod", name="web-1", uid="uid-web-1")
POD_LABELS = {"firecontrol-cluster": "fc", "firecontrol-namespace": "default", "firecontrol-pod": "web-1",
              "firecontrol-uid": "uid-web-1"}


def metadata(emulator: ComputeEmulator, name: str) -> dict[str, str]:
    [vm] = [i for i in emulator.state.dump()["resources"]["instances"] if i["name"] == name]
    return {item["key"]: item["value"] for item in vm.get("metadata", {}).get("items", [])}


def test_items_merge_and_none_removes(emulator: ComputeEmulator, cloud: Any) -> None:
    seed(emulator, ["vm-1"], POD_LABELS)
    assert cloud.set_instance_metadata("vm-1", ZONE, {"fc-a": "1", "fc-b": "two words\nand a line"}, owner=POD)
    assert cloud.set_instance_metadata("vm-1", None, {"fc-c": "3"})  # None: the configured zone; no owner check
    assert metadata(emulator, "vm-1") == {"fc-a": "1", "fc-b": "two words\nand a line", "fc-c": "3"}

    assert cloud.set_instance_metadata("vm-1", ZONE, {"fc-a": None, "fc-c": "4"}, owner=POD)
    assert metadata(emulator, "vm-1") == {"fc-b": "two words\nand a line", "fc-c": "4"}


def test_nothing_to_change_makes_no_write(emulator: ComputeEmulator, cloud: Any) -> None:
    seed(emulator, ["vm-1"], POD_LABELS)
    cloud.set_instance_metadata("vm-1", ZONE, {"fc-a": "1"}, owner=POD)
    emulator.faults.reset_counts()
    assert cloud.set_instance_metadata("vm-1", ZONE, {"fc-a": "1", "fc-gone": None}, owner=POD) is False
    assert emulator.requests() == {"instances.get": 1}


def test_a_vm_of_another_owner_is_refused_and_untouched(emulator: ComputeEmulator, cloud: Any) -> None:
    seed(emulator, ["theirs"], {**POD_LABELS, "firecontrol-uid": "uid-someone-else"})
    seed(emulator, ["other-cluster"], {**POD_LABELS, "firecontrol-cluster": "other"})
    for name in ("theirs", "other-cluster"):
        with pytest.raises(NameConflictError, match=f"VM {name} is not this pod's"):
            cloud.set_instance_metadata(name, ZONE, {"fc-a": "1"}, owner=POD)
        assert metadata(emulator, name) == {}
    assert "instances.setMetadata" not in emulator.requests()


def test_a_vanished_vm_is_not_found(emulator: ComputeEmulator, cloud: Any) -> None:
    with pytest.raises(NotFoundError):
        cloud.set_instance_metadata("never-was", ZONE, {"fc-a": "1"}, owner=POD)


def test_a_stale_fingerprint_is_read_again(emulator: ComputeEmulator, cloud: Any) -> None:
    """Another writer between our read and our write: 412, read again, write again."""
    seed(emulator, ["vm-1"], POD_LABELS)
    emulator.faults.add(FaultRule(path="setMetadata", method="POST", status=412, reason="conditionNotMet", count=2))
    assert cloud.set_instance_metadata("vm-1", ZONE, {"fc-a": "1"}, owner=POD)
    assert metadata(emulator, "vm-1") == {"fc-a": "1"}
    assert emulator.requests()["instances.setMetadata"] == 3 and emulator.requests()["instances.get"] == 3


def test_a_fingerprint_stale_every_time_gives_up_as_temporary(emulator: ComputeEmulator, cloud: Any) -> None:
    seed(emulator, ["vm-1"], POD_LABELS)
    emulator.faults.add(FaultRule(path="setMetadata", method="POST", status=412, reason="conditionNotMet"))
    with pytest.raises(TemporaryError, match="kept changing"):
        cloud.set_instance_metadata("vm-1", ZONE, {"fc-a": "1"}, owner=POD)
    assert emulator.requests()["instances.setMetadata"] == 6


def test_a_real_concurrent_writer_keeps_both_keys(emulator: ComputeEmulator, cloud: Any, make_cloud: Any) -> None:
    """Two providers write different keys to one VM at once: neither key is lost."""
    import threading

    seed(emulator, ["vm-1"], POD_LABELS)
    other = make_cloud()
    errors: list[BaseException] = []

    def write(provider: Any, key: str) -> None:
        try:
            for i in range(5):
                provider.set_instance_metadata("vm-1", ZONE, {key: str(i)}, owner=POD)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(p, k)) for p, k in ((cloud, "fc-a"), (other, "fc-b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert metadata(emulator, "vm-1") == {"fc-a": "4", "fc-b": "4"}


def test_serial_output_from_a_start_and_where_to_go_on(emulator: ComputeEmulator, cloud: Any) -> None:
    seed(emulator, ["vm-1"], POD_LABELS)
    [vm] = emulator.state.dump()["resources"]["instances"]
    key = Key(PROJECT, f"zones/{ZONE}", "instances", "vm-1")
    emulator.state.serial.write(key, str(vm["id"]), 2, "fc-log web hello\n")
    text, after = cloud.get_serial_output("vm-1", ZONE, 2)
    assert (text, after) == ("fc-log web hello\n", 17)
    emulator.state.serial.write(key, str(vm["id"]), 2, "fc-log web again\n")
    assert cloud.get_serial_output("vm-1", None, 2, after) == ("fc-log web again\n", 34)
    assert cloud.get_serial_output("vm-1", ZONE, 2, 34) == ("", 34)
    assert cloud.get_serial_output("vm-1", ZONE, 1) == ("", 0)  # another port
    with pytest.raises(NotFoundError):
        cloud.get_serial_output("never-was", ZONE, 2)
