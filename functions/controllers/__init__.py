"""The controllers, one module each, and the parts only they use.

- ``replication``: the replication manager (a controller keeps N pods), for
  replication controllers and ReplicaSets alike (a ``ControllerKind`` each);
  ``propagation`` what happens to its pods when it is deleted (orphan, foreground,
  background cascade); ``replica_kinds`` what both are built from (the kinds, owner
  references, the ``Plan``, the controller's guarded write, pod removal, events);
- ``deployments``: the Deployment pass (``deployment_view`` its ReplicaSets as it sees
  them, ``deployment_rollout`` the strategies, ``deployment_status`` and
  ``deployment_conditions`` its status), and ``resync_deployments`` resync's part;
- ``pods``: the pod runtime (a pod is a VM; ``termination`` and ``pod_logs`` are its
  graceful deletion and the output it keeps);
- ``services``: the service controller (load balancers; ``service_ports`` the port maps
  on the member VMs);
- ``pod_reports``: ``pod_status``, the receiving end of the pod agents' reports;
- ``node_lifecycle``: silent agents' pods Unknown, then lost;
- ``resync``: the periodic sweep over all of them.

Only these modules know both Firestore and a cloud; they import ``store``,
``cloudprovider`` and ``api``, never the other way round.
"""
