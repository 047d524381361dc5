"""What the controllers need from a cloud, as small Protocols (Kubernetes' 2014 ``cloud.go``).

Controllers depend on these, never on a vendor client; ``gce`` implements them and
tests can pass any object with the same methods. Every method is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Zone:
    zone: str
    region: str


@dataclass(frozen=True)
class Owner:
    """Whose a cloud resource is: written on it (labels or description) when it is made,
    and checked before it is reused after a 409 or deleted."""

    cluster: str
    namespace: str
    kind: str  # "Pod", "Service"
    name: str
    uid: str


@dataclass(frozen=True)
class InstanceInfo:
    name: str
    zone: str
    status: str  # PROVISIONING, STAGING, RUNNING, STOPPING, TERMINATED, ...
    internal_ip: str | None = None
    external_ip: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    id: str = ""  # Compute Engine's numeric id: new for every VM, even under a reused name


@dataclass(frozen=True)
class InstanceSpec:
    """A VM to create; everything a user wrote travels in ``metadata`` as plain values."""

    name: str
    machine_type: str
    image: str
    metadata: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    preemptible: bool = False
    tags: tuple[str, ...] = ()
    zone: str | None = None  # None: the configured zone
    owner: Owner | None = None  # whose the VM is: written in its labels, checked on a 409
    external_ip: bool = False  # an access config (public IP); else egress goes through Cloud NAT
    service_account: str | None = None  # the VM's identity (None: none at all)


class TCPLoadBalancer(Protocol):
    def get_load_balancer(self, name: str, region: str) -> str | None:
        """The ingress IP of the load balancer ``name``, or None if it does not exist."""
        ...

    def ensure_load_balancer(
        self,
        name: str,
        region: str,
        ports: Sequence[int],
        hosts: Sequence[str],
        *,
        owner: Owner,
        protocol: str = "TCP",
        load_balancer_ip: str | None = None,
        source_ranges: Sequence[str] = ("0.0.0.0/0",),
        session_affinity: str = "NONE",
    ) -> str:
        """Create or repair the load balancer so it matches; return its ingress IP.
        NameConflictError if a resource under its name is not ``owner``'s, or if
        ``load_balancer_ip`` is an address firecontrol reserved for another load balancer
        (nothing of theirs touched)."""
        ...

    def update_hosts(self, name: str, region: str, hosts: Sequence[str]) -> None:
        """Make the instances behind ``name`` exactly ``hosts`` (missing instances are skipped)."""
        ...

    def ensure_load_balancer_deleted(self, name: str, region: str, *, owner_uid: str | None = None) -> None:
        """Delete everything ``name`` owns (of ``owner_uid`` when given); quiet when nothing is
        there; NameConflictError after deleting the rest if a resource is someone else's."""
        ...

    def remove_instance_from_load_balancers(self, instance: str, zone: str | None, region: str) -> list[str]:
        """Take the instance out of every target pool of this cluster that has it (a pod being
        deleted leaves service first); the names of the pools it left."""
        ...

    def list_load_balancers(self, region: str) -> dict[str, set[str | None]]:
        """Every load balancer this cluster has any resource of, with every owner uid its
        resources carry (None: made by an older version), for garbage collection: an old
        owner's half-deleted resources and a new owner's can be under one name."""
        ...


class Instances(Protocol):
    def get_instance(self, name: str, zone: str | None = None) -> InstanceInfo:
        """Status and addresses of one instance in ``zone`` (None: the configured one);
        NotFoundError if it is gone."""
        ...

    def list_instances(self) -> list[InstanceInfo]:
        """Instances labelled as managed by this cluster, in every zone (one paginated aggregatedList)."""
        ...

    def ensure_instance(self, spec: InstanceSpec) -> InstanceInfo:
        """Create the VM unless it exists; return it as it is now. A VM already under the
        name is reused only if its labels name ``spec.owner``, else NameConflictError."""
        ...

    def ensure_instance_deleted(self, name: str, zone: str | None = None, *, owner_uid: str | None = None,
                                owner: Owner | None = None) -> None:
        """Delete the VM in ``zone`` (None: the configured one) and wait; quiet when it is not
        there. Only a VM labelled for this cluster (and ``owner_uid``, or ``owner`` whose
        older VMs carry no uid) is deleted; any other is a NameConflictError."""
        ...


    def set_instance_metadata(self, name: str, zone: str | None, items: Mapping[str, str | None], *,
                              owner: Owner | None = None) -> bool:
        """Merge ``items`` into the VM's metadata (None removes a key), keeping every other key;
        False if nothing had to change. NotFoundError if the VM is gone; NameConflictError if
        ``owner`` is given and the VM's labels do not name it."""
        ...

    def get_serial_output(self, name: str, zone: str | None, port: int, start: int = 0) -> tuple[str, int]:
        """The VM's serial port ``port`` output from byte ``start`` on, and where the next
        read starts (Compute keeps the last megabyte). NotFoundError if the VM is gone."""
        ...


class Zones(Protocol):
    def get_zone(self) -> Zone: ...


class CloudProvider(TCPLoadBalancer, Instances, Zones, Protocol):
    """A cloud with all three capabilities; ``name`` is its registry name."""

    @property
    def name(self) -> str: ...
