"""The ``gce`` cloud provider: load balancers, instances and zones on Compute Engine.

``GceCloud`` is the ``CloudProvider`` the registry builds; the load balancer logic is
in ``gce_loadbalancer``, the vendor boundary (retries, operations, errors) in
``gce_api``. Pod VMs (``ensure_instance`` / ``ensure_instance_deleted``) will be added
here next to ``get_instance``, using the same ``ComputeApi``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.cloud import compute_v1

from . import names
from .config import GceConfig
from .gce_api import ComputeApi
from .gce_loadbalancer import GceLoadBalancers, Hook
from .interface import InstanceInfo, Zone


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
    )


class GceCloud(GceLoadBalancers):
    name = "gce"

    def __init__(self, config: GceConfig, *, api: ComputeApi | None = None, on_step: Hook | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        kwargs: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        super().__init__(api or ComputeApi(config, **kwargs), config, on_step)

    def get_zone(self) -> Zone:
        return Zone(zone=self.config.zone, region=self.config.region)

    def get_instance(self, name: str) -> InstanceInfo:
        instance = self.api.call(f"get instance {name}", self.api.instances.get,
                                 project=self.config.project, zone=self.config.zone, instance=name)
        return _info(instance)

    def list_instances(self) -> list[InstanceInfo]:
        request = compute_v1.ListInstancesRequest(
            project=self.config.project, zone=self.config.zone, max_results=500,
            filter=f'labels.{names.CLUSTER_LABEL} = "{self.config.cluster}"',
        )
        pager = self.api.call(f"list instances in {self.config.zone}", self.api.instances.list, request=request)
        return [_info(i) for i in pager]
