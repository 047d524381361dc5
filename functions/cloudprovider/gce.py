"""The ``gce`` cloud provider: load balancers, instances and zones on Compute Engine.

``GceCloud`` is the ``CloudProvider`` the registry builds; the load balancer logic is
in ``gce_loadbalancer``, the vendor boundary (retries, operations, errors) in
``gce_api``; pod VMs are below.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from google.cloud import compute_v1

from . import names
from .config import GceConfig
from .errors import CloudError, NameConflictError, NotFoundError, TemporaryError
from .gce_api import ComputeApi
from .gce_loadbalancer import GceLoadBalancers, Hook
from .interface import InstanceInfo, InstanceSpec, Owner, Zone

# Written on every pod VM, over anything the pod asks for: no project-wide SSH keys,
# logins only through OS Login (IAM).
HARDENING_METADATA = {"block-project-ssh-keys": "TRUE", "enable-oslogin": "TRUE"}
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
# setMetadata takes the fingerprint it read; another writer in between gets a 412: read again.
METADATA_ATTEMPTS = 6
log = logging.getLogger("firecontrol.cloudprovider")


def _info(instance: compute_v1.Instance) -> InstanceInfo:
    nic = instance.network_interfaces[0] if instance.network_interfaces else None
    nat = nic.access_configs[0].nat_i_p if nic is not None and nic.access_configs else None
    return InstanceInfo(
        name=instance.name,
        zone=instance.zone.rsplit("/", 1)[-1],
        status=instance.status,
        internal_ip=(nic.network_i_p or None) if nic is not None else None,
        external_ip=nat or None,
        labels=dict(instance.labels),
        id=str(instance.id) if instance.id else "",
    )


def merged_metadata(current: Mapping[str, str], items: Mapping[str, str | None]) -> dict[str, str]:
    """``current`` with ``items`` set (None: removed), every other key kept in its place."""
    merged = dict(current)
    for key, value in items.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _stale_fingerprint(error: CloudError) -> bool:
    return error.status == 412 or error.reason == "conditionNotMet"


def _labels_text(labels: dict[str, str]) -> str:
    shown = [f"{k}={v}" for k, v in sorted(labels.items()) if k.startswith("firecontrol-")]
    return ", ".join(shown) or "no firecontrol labels"



class GceCloud(GceLoadBalancers):
    name = "gce"

    def __init__(self, config: GceConfig, *, api: ComputeApi | None = None, on_step: Hook | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        kwargs: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        super().__init__(api or ComputeApi(config, **kwargs), config, on_step)

    def get_zone(self) -> Zone:
        return Zone(zone=self.config.zone, region=self.config.region)

    def get_instance(self, name: str, zone: str | None = None) -> InstanceInfo:
        instance = self.api.call(f"get instance {name}", self.api.instances.get,
                                 project=self.config.project, zone=zone or self.config.zone, instance=name)
        return _info(instance)

    def list_instances(self) -> list[InstanceInfo]:
        """One aggregatedList (paged by 500) of this cluster's VMs in every zone."""
        request = compute_v1.AggregatedListInstancesRequest(
            project=self.config.project, max_results=500,
            filter=f'labels.{names.CLUSTER_LABEL} = "{self.config.cluster}"',
        )
        pager = self.api.call("list instances", self.api.instances.aggregated_list, request=request)
        found: list[InstanceInfo] = []
        for _zone, scoped in pager:
            found += [_info(i) for i in scoped.instances]
        return found

    def ensure_instance(self, spec: InstanceSpec) -> InstanceInfo:
        zone = spec.zone or self.config.zone
        created = self._insert(f"insert instance {spec.name}", self.api.instances.insert_unary,
                               zone=zone, instance_resource=self._instance(spec, zone))
        if not created:
            existing: InstanceInfo = self._read_existing(
                f"instance {spec.name}", lambda: self._instance_or_none(spec.name, zone)
            )
            uid = spec.owner.uid if spec.owner is not None else None
            if not names.instance_owned(existing.labels, self.config.cluster, uid, pod=spec.owner):
                raise NameConflictError(
                    f"VM {spec.name} already exists and is not this pod's ({_labels_text(existing.labels)}); "
                    "it is left alone", status=409, reason="NameConflict")
            return existing
        return self.get_instance(spec.name, zone)

    def _instance(self, spec: InstanceSpec, zone: str) -> compute_v1.Instance:
        preemptible = spec.preemptible
        labels = {**spec.labels, **names.labels(self.config.cluster)}
        if spec.owner is not None:
            labels.update(names.instance_labels(spec.owner))
        metadata = {**spec.metadata, **HARDENING_METADATA}
        access = [compute_v1.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")] if spec.external_ip else []
        accounts = [compute_v1.ServiceAccount(email=spec.service_account, scopes=[CLOUD_PLATFORM])] if spec.service_account else []
        return compute_v1.Instance(
            name=spec.name,
            machine_type=f"zones/{zone}/machineTypes/{spec.machine_type}",
            labels=labels,
            tags=compute_v1.Tags(items=[self.config.cluster, *spec.tags]),
            metadata=compute_v1.Metadata(items=[compute_v1.Items(key=k, value=v) for k, v in sorted(metadata.items())]),
            disks=[compute_v1.AttachedDisk(
                boot=True, auto_delete=True,
                initialize_params=compute_v1.AttachedDiskInitializeParams(source_image=spec.image),
            )],
            network_interfaces=[compute_v1.NetworkInterface(
                network=f"global/networks/{self.config.network}", access_configs=access,
            )],
            service_accounts=accounts,
            shielded_instance_config=compute_v1.ShieldedInstanceConfig(
                enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True,
            ),
            scheduling=compute_v1.Scheduling(
                preemptible=preemptible,
                automatic_restart=not preemptible,
                on_host_maintenance="TERMINATE" if preemptible else "MIGRATE",
            ),
        )

    def _instance_or_none(self, name: str, zone: str) -> InstanceInfo | None:
        try:
            return self.get_instance(name, zone)
        except NotFoundError:
            return None

    def ensure_instance_deleted(self, name: str, zone: str | None = None, *, owner_uid: str | None = None,
                                owner: Owner | None = None) -> None:
        zone = zone or self.config.zone
        found = self._instance_or_none(name, zone)
        if found is None:
            return
        uid = owner.uid if owner is not None else owner_uid
        if not names.instance_owned(found.labels, self.config.cluster, uid, pod=owner, legacy=True):
            raise NameConflictError(
                f"VM {name} is not this object's ({_labels_text(found.labels)}); it is not deleted",
                status=409, reason="NameConflict")
        self._delete(f"delete instance {name}", self.api.instances.delete_unary, zone=zone, instance=name)

    # -- metadata and serial output (the agent's inputs and outputs) --------------------

    def set_instance_metadata(self, name: str, zone: str | None, items: Mapping[str, str | None], *,
                              owner: Owner | None = None) -> bool:
        """Read, check the owner, merge; write with the fingerprint read, and read again
        when another writer changed the metadata in between (412)."""
        zone = zone or self.config.zone
        what = f"set metadata of instance {name}"
        for attempt in range(1, METADATA_ATTEMPTS + 1):
            instance = self.api.call(f"get instance {name}", self.api.instances.get,
                                     project=self.config.project, zone=zone, instance=name)
            labels = dict(instance.labels)
            if owner is not None and not names.instance_owned(labels, self.config.cluster, owner.uid, pod=owner,
                                                              legacy=True):
                raise NameConflictError(
                    f"VM {name} is not this pod's ({_labels_text(labels)}); its metadata is left alone",
                    status=409, reason="NameConflict")
            current = {item.key: item.value for item in instance.metadata.items}
            merged = merged_metadata(current, items)
            if merged == current:
                return False
            body = compute_v1.Metadata(fingerprint=instance.metadata.fingerprint,
                                       items=[compute_v1.Items(key=k, value=v) for k, v in merged.items()])
            try:
                self.api.mutate(what, self.api.instances.set_metadata_unary, project=self.config.project,
                                zone=zone, instance=name, metadata_resource=body)
                return True
            except CloudError as error:
                if not _stale_fingerprint(error):
                    raise
                if attempt == METADATA_ATTEMPTS:
                    raise TemporaryError(f"{what}: the metadata kept changing under us ({attempt} attempts)",
                                         status=412, reason="conditionNotMet") from error
                log.info("metadata changed under us, reading again",
                         extra={"call": what, "attempt": attempt, "error": str(error)})
                # Jittered, so two writers that collided do not collide again in lockstep.
                delays = self.config.retry_delays or (0.0,)
                self.api.sleep(random.uniform(0, delays[min(attempt - 1, len(delays) - 1)]))
        raise AssertionError("unreachable")

    def get_serial_output(self, name: str, zone: str | None, port: int, start: int = 0) -> tuple[str, int]:
        request = compute_v1.GetSerialPortOutputInstanceRequest(
            project=self.config.project, zone=zone or self.config.zone, instance=name, port=port, start=start)
        output = self.api.call(f"get serial port {port} output of instance {name}",
                               self.api.instances.get_serial_port_output, request=request)
        return str(output.contents), int(output.next_)
