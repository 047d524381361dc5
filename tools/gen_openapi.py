"""Generate kube_api's OpenAPI v3 documents (functions/kubeapi/openapi/*.json).

kubectl reads them for three things: whether the server takes `fieldValidation` (then
`--validate=strict` is left to the server), how to compute strategic merge patches
(`x-kubernetes-patch-merge-key` / `-strategy`), and `kubectl explain`. The field names,
types, descriptions and which model references which come from the official
`kubernetes` Python client pinned in requirements-dev.txt (`openapi_types`,
`attribute_map`, pydantic field descriptions); what the client does not carry is written
here as small tables checked against Kubernetes' Go types (k8s.io/api core/v1, apps/v1,
k8s.io/apimachinery meta/v1): each model's API group, the `object`-typed fields
(IntOrString, FieldsV1), Quantity and MicroTime fields, and the patch metadata.

    .venv/bin/python tools/gen_openapi.py          # rewrite the files
    .venv/bin/python tools/gen_openapi.py --check  # exit 1 if they are stale

tests/kubeapi/test_openapi.py runs the check, so the committed files never drift from
the pinned client.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import kubernetes.client as k8s

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from functions.kubeapi import resources  # noqa: E402
from functions.kubeapi.resources import Resource  # noqa: E402

OUT = ROOT / "functions" / "kubeapi" / "openapi"
SCHEMAS = "#/components/schemas/"
Json = dict[str, Any]

# --- Which API group each model the kinds reach lives in (everything else: core/v1). ---
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
META_TYPES = frozenset({
    "Condition", "DeleteOptions", "LabelSelector", "LabelSelectorRequirement", "ListMeta",
    "ManagedFieldsEntry", "ObjectMeta", "OwnerReference", "Preconditions", "Status",
    "StatusCause", "StatusDetails",
})
APPS_TYPES = frozenset({
    "Deployment", "DeploymentCondition", "DeploymentList", "DeploymentSpec", "DeploymentStatus",
    "DeploymentStrategy", "ReplicaSet", "ReplicaSetCondition", "ReplicaSetList", "ReplicaSetSpec",
    "ReplicaSetStatus", "RollingUpdateDeployment",
})
AUTOSCALING_TYPES = frozenset({"Scale", "ScaleSpec", "ScaleStatus"})

# Types the client flattens to `str`, `datetime`, `object` or `Dict[str, str]`.
TIME = f"{META}.Time"
MICRO_TIME = f"{META}.MicroTime"
FIELDS_V1 = f"{META}.FieldsV1"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
PATCH = f"{META}.Patch"
SCALARS: dict[str, Json] = {
    TIME: {"description": "A timestamp, RFC 3339 to the second.", "type": "string", "format": "date-time"},
    MICRO_TIME: {"description": "A timestamp, RFC 3339 to the microsecond.", "type": "string",
                 "format": "date-time"},
    FIELDS_V1: {"description": "The set of fields a field manager owns (server-side apply).", "type": "object"},
    INT_OR_STRING: {"description": "An integer or a string (a port number or name, a count or a percentage).",
                    "type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True},
    QUANTITY: {"description": "A fixed-point number with a suffix: 100m, 2, 1.5Gi, 1e3.",
               "type": "string", "format": "quantity", "x-kubernetes-int-or-string": True},
    PATCH: {"description": "A patch: JSON patch, JSON merge patch or strategic merge patch.", "type": "object"},
}
OBJECT_FIELDS = {  # (model, json field) typed `object` by the client
    ("HTTPGetAction", "port"): INT_OR_STRING,
    ("TCPSocketAction", "port"): INT_OR_STRING,
    ("ServicePort", "targetPort"): INT_OR_STRING,
    ("RollingUpdateDeployment", "maxSurge"): INT_OR_STRING,
    ("RollingUpdateDeployment", "maxUnavailable"): INT_OR_STRING,
    ("ManagedFieldsEntry", "fieldsV1"): FIELDS_V1,
}
QUANTITY_FIELDS = frozenset({  # resource.Quantity, or a ResourceList of them
    ("ResourceRequirements", "limits"), ("ResourceRequirements", "requests"),
    ("VolumeResourceRequirements", "limits"), ("VolumeResourceRequirements", "requests"),
    ("ContainerStatus", "allocatedResources"), ("PodStatus", "allocatedResources"),
    ("PodSpec", "overhead"), ("ResourceQuotaSpec", "hard"), ("ResourceQuotaStatus", "hard"),
    ("ResourceQuotaStatus", "used"), ("EmptyDirVolumeSource", "sizeLimit"),
    ("ResourceFieldSelector", "divisor"), ("NodeAllocatableMappedResources", "quantity"),
    ("NodeAllocatableOverheadResources", "perPod"), ("NodeAllocatableOverheadResources", "perContainer"),
})
MICRO_TIME_FIELDS = frozenset({("Event", "eventTime"), ("EventSeries", "lastObservedTime")})


# --- Kubernetes' patch metadata (the Go struct tags and +list markers), per (model, field). ---
def _merge(key: str, *map_keys: str, retain: bool = False, list_type: str = "map") -> Json:
    meta: Json = {"x-kubernetes-patch-strategy": "merge,retainKeys" if retain else "merge",
                  "x-kubernetes-patch-merge-key": key, "x-kubernetes-list-type": list_type}
    if list_type == "map":
        meta["x-kubernetes-list-map-keys"] = list(map_keys or (key,))
    return meta


def _list_map(*keys: str) -> Json:
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


SET = {"x-kubernetes-list-type": "set"}
ATOMIC_MAP = {"x-kubernetes-map-type": "atomic"}
_CONTAINER_LISTS = {
    "ports": _merge("containerPort", "containerPort", "protocol"),
    "env": _merge("name"),
    "volumeMounts": _merge("mountPath"),
    "volumeDevices": _merge("devicePath"),
}
PATCH_META: dict[tuple[str, str], Json] = {
    ("ObjectMeta", "finalizers"): {"x-kubernetes-patch-strategy": "merge", **SET},
    ("ObjectMeta", "ownerReferences"): _merge("uid"),
    **{("Container", field): meta for field, meta in _CONTAINER_LISTS.items()},
    **{("EphemeralContainer", field): meta for field, meta in _CONTAINER_LISTS.items()},
    ("ContainerStatus", "volumeMounts"): _merge("mountPath"),
    ("ContainerStatus", "allocatedResourcesStatus"): _merge("name"),
    ("ContainerRestartRuleOnExitCodes", "values"): SET,
    ("VolumeMount", "bindMountOptions"): SET,
    ("ResourceRequirements", "claims"): _list_map("name"),
    ("ResourceStatus", "resources"): _list_map("resourceID"),
    ("PodSpec", "volumes"): _merge("name", retain=True),
    ("PodSpec", "initContainers"): _merge("name"),
    ("PodSpec", "containers"): _merge("name"),
    ("PodSpec", "ephemeralContainers"): _merge("name"),
    ("PodSpec", "imagePullSecrets"): _merge("name"),
    ("PodSpec", "hostAliases"): _merge("ip"),
    ("PodSpec", "topologySpreadConstraints"): _merge("topologyKey", "topologyKey", "whenUnsatisfiable"),
    ("PodSpec", "schedulingGates"): _merge("name"),
    ("PodSpec", "resourceClaims"): _merge("name", retain=True),
    ("PodSpec", "evictionResponders"): _merge("name"),
    ("PodSpec", "nodeSelector"): ATOMIC_MAP,
    ("PodStatus", "conditions"): _merge("type"),
    ("PodStatus", "hostIPs"): _merge("ip", list_type="atomic"),
    ("PodStatus", "podIPs"): _merge("ip"),
    ("PodStatus", "resourceClaimStatuses"): _merge("name", retain=True),
    ("PodStatus", "nodeAllocatableResourceClaimStatuses"): _merge("resourceClaimName"),
    ("PodStatus", "volumeHealth"): _list_map("name"),
    ("PodVolumeHealth", "healthConditions"): _merge("status", "status", "reason"),
    ("NodeAllocatableResourceClaimStatus", "containers"): SET,
    ("NodeAllocatableResourceClaimStatus", "mapping"): _merge("name"),
    ("NodeAllocatableResourceClaimStatus", "overhead"): _merge("name"),
    ("ReplicationControllerSpec", "selector"): ATOMIC_MAP,
    ("ReplicationControllerStatus", "conditions"): _merge("type"),
    ("ServiceSpec", "ports"): _merge("port", "port", "protocol"),
    ("ServiceSpec", "selector"): ATOMIC_MAP,
    ("ServiceStatus", "conditions"): _merge("type"),
    ("NamespaceStatus", "conditions"): _merge("type"),
    ("DeploymentSpec", "strategy"): {"x-kubernetes-patch-strategy": "retainKeys"},
    ("DeploymentStatus", "conditions"): _merge("type"),
    ("ReplicaSetStatus", "conditions"): _merge("type"),
}

# --- The kinds each group-version document serves, and what they return. ---
GVK = tuple[str, str, str]
SCALE_GVK: GVK = ("autoscaling", "v1", "Scale")
KIND_CLASSES = {
    "Namespace": "V1Namespace", "Pod": "V1Pod", "ReplicationController": "V1ReplicationController",
    "Service": "V1Service", "Event": "CoreV1Event", "ResourceQuota": "V1ResourceQuota",
    "Deployment": "V1Deployment", "ReplicaSet": "V1ReplicaSet",
}
DOCUMENTS = {"v1": "api__v1.json", "apps/v1": "apis__apps__v1.json"}
VERSION = "v1.32.0-firecontrol"


def model_name(cls_name: str) -> str:
    """``V1Pod`` -> ``io.k8s.api.core.v1.Pod``; ``V1ObjectMeta`` -> ``io.k8s.apimachinery...``."""
    short = _short(cls_name)
    if short in META_TYPES:
        return f"{META}.{short}"
    if short in APPS_TYPES:
        return f"io.k8s.api.apps.v1.{short}"
    if short in AUTOSCALING_TYPES:
        return f"io.k8s.api.autoscaling.v1.{short}"
    return f"io.k8s.api.core.v1.{short}"


def _short(cls_name: str) -> str:
    match = re.fullmatch(r"(?:CoreV1|V1)(\w+)", cls_name)
    if not match:
        raise SystemExit(f"gen_openapi: no API group known for the client model {cls_name}")
    return match.group(1)


def _ref(name: str) -> Json:
    return {"allOf": [{"$ref": SCHEMAS + name}]}


class Builder:
    """Walks the client's models from the served kinds, collecting one schema per model."""

    def __init__(self) -> None:
        self.schemas: dict[str, Json] = {}
        self.used: set[tuple[str, str]] = set()  # table entries consumed, to catch stale ones

    def model(self, cls_name: str) -> str:
        name = model_name(cls_name)
        if name in self.schemas:
            return name
        cls = getattr(k8s, cls_name)
        short = _short(cls_name)
        schema: Json = {"type": "object", "properties": {}}
        self.schemas[name] = schema
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].strip()
        if doc and not doc.startswith("Attributes:"):
            schema["description"] = " ".join(doc.split())
        required = []
        infos = {f.serialization_alias or name: f for name, f in cls.model_fields.items()}
        for attr, type_text in cls.openapi_types.items():
            field = cls.attribute_map[attr]
            info = infos[field]
            prop = self.property(short, field, type_text)
            if info.description:
                prop["description"] = info.description
            prop.update(PATCH_META.get((short, field), {}))
            if (short, field) in PATCH_META:
                self.used.add((short, field))
            schema["properties"][field] = prop
            if info.is_required():
                required.append(field)
        if required:
            schema["required"] = sorted(required)
        return name

    def property(self, model: str, field: str, type_text: str) -> Json:
        key = (model, field)
        if key in QUANTITY_FIELDS:
            self.used.add(key)
            self.schemas.setdefault(QUANTITY, SCALARS[QUANTITY])
            if type_text.startswith("Dict["):
                return {"type": "object", "additionalProperties": _ref(QUANTITY)}
            return _ref(QUANTITY)
        if key in MICRO_TIME_FIELDS:
            self.used.add(key)
            self.schemas.setdefault(MICRO_TIME, SCALARS[MICRO_TIME])
            return _ref(MICRO_TIME)
        return self.of_type(model, field, type_text)

    def of_type(self, model: str, field: str, type_text: str) -> Json:
        if match := re.fullmatch(r"List\[(.+)\]", type_text):
            return {"type": "array", "items": self.of_type(model, field, match.group(1))}
        if match := re.fullmatch(r"Dict\[str, (.+)\]", type_text):
            return {"type": "object", "additionalProperties": self.of_type(model, field, match.group(1))}
        plain = {"str": {"type": "string"}, "int": {"type": "integer"}, "bool": {"type": "boolean"},
                 "float": {"type": "number"}}
        if type_text in plain:
            return dict(plain[type_text])
        if type_text == "datetime":
            self.schemas.setdefault(TIME, SCALARS[TIME])
            return _ref(TIME)
        if type_text == "object":
            name = OBJECT_FIELDS.get((model, field))
            if name is None:
                raise SystemExit(f"gen_openapi: {model}.{field} is `object` in the client: add it to OBJECT_FIELDS")
            self.used.add((model, field))
            self.schemas.setdefault(name, SCALARS[name])
            return _ref(name)
        return _ref(self.model(type_text))


def _gvk(group: str, version: str, kind: str) -> Json:
    return {"group": group, "version": version, "kind": kind}


# --- paths ---
def _param(name: str, description: str, kind: str = "string", where: str = "query") -> Json:
    param: Json = {"name": name, "in": where, "description": description, "schema": {"type": kind}}
    if where == "path":
        param["required"] = True
    else:
        param["schema"]["uniqueItems"] = True
    return param


PRETTY = _param("pretty", "If 'true', the output is pretty printed.")
DRY_RUN = _param("dryRun", "'All': validate and answer what would be stored, without storing it.")
FIELD_MANAGER = _param("fieldManager", "The name of the actor making the change (accepted, not recorded).")
FIELD_VALIDATION = _param(
    "fieldValidation",
    "What to do with fields the schema does not know: 'Ignore' drops them silently, 'Warn' (the "
    "default) keeps going with a warning per field, 'Strict' fails the request with a 400.",
)
FORCE = _param("force", "Server-side apply only; not supported here.", "boolean")
LIST_PARAMS = [
    _param("allowWatchBookmarks", "Ask for BOOKMARK events in a watch.", "boolean"),
    _param("continue", "The token from a previous page's metadata.continue."),
    _param("fieldSelector", "Select objects by fields (metadata.name, status.phase, ...)."),
    _param("labelSelector", "Select objects by labels."),
    _param("limit", "At most this many objects per page.", "integer"),
    _param("resourceVersion", "List or watch from this version."),
    _param("resourceVersionMatch", "How resourceVersion applies to a list."),
    _param("sendInitialEvents", "Start a watch with the current objects, then a BOOKMARK.", "boolean"),
    _param("timeoutSeconds", "End a list or watch after this many seconds.", "integer"),
    _param("watch", "Stream changes (ADDED, MODIFIED, DELETED) instead of answering a list.", "boolean"),
]
DELETE_PARAMS = [
    DRY_RUN,
    _param("gracePeriodSeconds", "Seconds before the object is deleted.", "integer"),
    _param("propagationPolicy", "Background (the default), Foreground or Orphan: what becomes of dependents."),
]
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json")


def _json_response(schema: str, codes: tuple[str, ...] = ("200",)) -> Json:
    content = {"application/json": {"schema": {"$ref": SCHEMAS + schema}},
               "application/yaml": {"schema": {"$ref": SCHEMAS + schema}}}
    return {code: {"description": {"200": "OK", "201": "Created", "202": "Accepted"}[code], "content": content}
            for code in codes}


def _body(schema: str) -> Json:
    return {"content": {"*/*": {"schema": {"$ref": SCHEMAS + schema}}}, "required": True}


def _operation(action: str, op_id: str, description: str, gvk: GVK, tags: list[str], *,
               params: list[Json], responses: Json, body: Json | None = None) -> Json:
    op: Json = {
        "description": description, "operationId": op_id, "tags": tags, "responses": responses,
        "x-kubernetes-action": action, "x-kubernetes-group-version-kind": _gvk(*gvk),
    }
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = body
    return op


def paths_for(resource: Resource, kind_schema: str, list_schema: str) -> dict[str, Json]:
    group_prefix = "Core" if not resource.group else resource.group.capitalize()
    ident = f"{group_prefix}{resource.version.capitalize()}"
    tags = [f"{resource.group or 'core'}_{resource.version}"]
    gvk: GVK = (resource.group, resource.version, resource.kind)
    base = f"/api/{resource.version}" if not resource.group else f"/apis/{resource.group}/{resource.version}"
    ns = "Namespaced" if resource.namespaced else ""
    kind = resource.kind
    verbs = resource.verbs
    collection = f"{base}/namespaces/{{namespace}}/{resource.plural}" if resource.namespaced else f"{base}/{resource.plural}"
    item = f"{collection}/{{name}}"
    ns_param = [_param("namespace", "The object's namespace.", where="path")] if resource.namespaced else []
    name_param = _param("name", f"The {kind}'s name.", where="path")
    out: dict[str, Json] = {}

    ops: Json = {}
    if "list" in verbs:
        ops["get"] = _operation("list", f"list{ident}{ns}{kind}", f"list or watch objects of kind {kind}", gvk,
                                tags, params=LIST_PARAMS, responses=_json_response(list_schema))
    if "create" in verbs:
        ops["post"] = _operation("post", f"create{ident}{ns}{kind}", f"create a {kind}", gvk, tags,
                                 params=[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
                                 responses=_json_response(kind_schema, ("200", "201", "202")),
                                 body=_body(kind_schema))
    if "deletecollection" in verbs:
        ops["delete"] = _operation("deletecollection", f"deletecollection{ident}{ns}{kind}",
                                   f"delete a collection of {kind}", gvk, tags,
                                   params=DELETE_PARAMS + LIST_PARAMS[:-1],
                                   responses=_json_response(f"{META}.Status"))
    if ops:
        out[collection] = {**ops, "parameters": [*ns_param, PRETTY]}

    ops = {}
    if "get" in verbs:
        ops["get"] = _operation("get", f"read{ident}{ns}{kind}", f"read the specified {kind}", gvk, tags,
                                params=[], responses=_json_response(kind_schema))
    if "update" in verbs:
        ops["put"] = _operation("put", f"replace{ident}{ns}{kind}", f"replace the specified {kind}", gvk, tags,
                                params=[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
                                responses=_json_response(kind_schema, ("200", "201")), body=_body(kind_schema))
    if "patch" in verbs:
        ops["patch"] = _patch_op(f"patch{ident}{ns}{kind}", f"partially update the specified {kind}", gvk,
                                 tags, kind_schema)
    if "delete" in verbs:
        ops["delete"] = _operation("delete", f"delete{ident}{ns}{kind}", f"delete a {kind}", gvk, tags,
                                   params=DELETE_PARAMS, responses=_json_response(f"{META}.Status", ("200", "202")),
                                   body={"content": {"*/*": {"schema": {"$ref": SCHEMAS + f"{META}.DeleteOptions"}}}})
    if ops:
        out[item] = {**ops, "parameters": [name_param, *ns_param, PRETTY]}

    if resource.namespaced and "list" in verbs:
        out[f"{base}/{resource.plural}"] = {
            "get": _operation("list", f"list{ident}{kind}ForAllNamespaces",
                              f"list or watch objects of kind {kind} in every namespace", gvk, tags,
                              params=LIST_PARAMS, responses=_json_response(list_schema)),
            "parameters": [PRETTY],
        }

    for sub in resource.subresources:
        path = f"{item}/{sub}"
        params = [name_param, *ns_param, PRETTY]
        sub_kind = sub.capitalize()
        if sub == "scale":
            scale = "io.k8s.api.autoscaling.v1.Scale"
            out[path] = {
                "get": _operation("get", f"read{ident}{ns}{kind}Scale", f"read scale of the specified {kind}",
                                  SCALE_GVK, tags, params=[], responses=_json_response(scale)),
                "put": _operation("put", f"replace{ident}{ns}{kind}Scale",
                                  f"replace scale of the specified {kind}", SCALE_GVK, tags,
                                  params=[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
                                  responses=_json_response(scale, ("200", "201")), body=_body(scale)),
                "patch": _patch_op(f"patch{ident}{ns}{kind}Scale", f"partially update scale of the specified {kind}",
                                   SCALE_GVK, tags, scale),
                "parameters": params,
            }
        elif sub == "status":  # read-only here: status is written by firecontrol's controllers
            out[path] = {"get": _operation("get", f"read{ident}{ns}{kind}Status",
                                           f"read status of the specified {kind}", gvk, tags, params=[],
                                           responses=_json_response(kind_schema)),
                         "parameters": params}
        elif sub == "log":
            text = {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}
            log_params = [
                _param("container", "The container whose log to read; required when the pod has several."),
                _param("follow", "Stream the log until the pod stops.", "boolean"),
                _param("limitBytes", "At most this many bytes.", "integer"),
                _param("previous", "The previous run's log.", "boolean"),
                _param("sinceSeconds", "Only lines this recent.", "integer"),
                _param("tailLines", "Only the last lines.", "integer"),
                _param("timestamps", "Prefix each line with its time.", "boolean"),
            ]
            out[path] = {"get": _operation("get", f"read{ident}{ns}{kind}{sub_kind}",
                                           f"read log of the specified {kind}", gvk, tags, params=log_params,
                                           responses=text),
                         "parameters": params}
    return out


def _patch_op(op_id: str, description: str, gvk: GVK, tags: list[str], schema: str) -> Json:
    # kubectl's QueryParamVerifierV3 looks for fieldValidation among the PATCH operation's own
    # parameters, and `kubectl apply` for application/strategic-merge-patch+json in its
    # requestBody (gvkSupportsPatchOpenAPIV3): both must be here, inline.
    body = {"content": {t: {"schema": {"$ref": SCHEMAS + PATCH}} for t in PATCH_TYPES}, "required": True}
    return _operation("patch", op_id, description, gvk, tags,
                      params=[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE],
                      responses=_json_response(schema, ("200", "201")), body=body)


def document(group_version: str) -> tuple[Json, set[tuple[str, str]]]:
    builder = Builder()
    paths: dict[str, Json] = {}
    served = resources.of_group_version(group_version)
    group, _, version = group_version.rpartition("/")
    for resource in served:
        cls_name = KIND_CLASSES[resource.kind]
        kind_schema = builder.model(cls_name)
        list_schema = builder.model(cls_name + "List")
        builder.schemas[kind_schema]["x-kubernetes-group-version-kind"] = [_gvk(group, version, resource.kind)]
        builder.schemas[list_schema]["x-kubernetes-group-version-kind"] = [
            _gvk(group, version, resource.kind + "List")]
        if "scale" in resource.subresources:
            scale = builder.model("V1Scale")
            builder.schemas[scale]["x-kubernetes-group-version-kind"] = [_gvk(*SCALE_GVK)]
        paths.update(paths_for(resource, kind_schema, list_schema))
    status = builder.model("V1Status")
    builder.schemas[status]["x-kubernetes-group-version-kind"] = [_gvk("", "v1", "Status")]
    delete_options = builder.model("V1DeleteOptions")
    builder.schemas[delete_options]["x-kubernetes-group-version-kind"] = [
        _gvk(g, "v1", "DeleteOptions") for g in ("", "apps", "autoscaling")]
    builder.schemas[PATCH] = SCALARS[PATCH]
    doc: Json = {
        "openapi": "3.0.0",
        "info": {"title": "firecontrol (Kubernetes API subset)", "version": VERSION},
        "paths": paths,
        "components": {"schemas": builder.schemas},
    }
    return doc, builder.used


def encode(doc: Json) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def generate() -> dict[str, bytes]:
    """File name -> content, for every document; fails if a table names a field no model has."""
    files: dict[str, bytes] = {}
    used: set[tuple[str, str]] = set()
    for group_version, file_name in DOCUMENTS.items():
        doc, doc_used = document(group_version)
        used |= doc_used
        files[file_name] = encode(doc)
    tables = set(PATCH_META) | set(OBJECT_FIELDS) | QUANTITY_FIELDS | MICRO_TIME_FIELDS
    if stale := sorted(tables - used):
        raise SystemExit(f"gen_openapi: table entries no model reached (renamed in the client?): {stale}")
    return files


def main(argv: list[str]) -> int:
    files = generate()
    if "--check" in argv:
        stale = [n for n, data in files.items() if not (OUT / n).exists() or (OUT / n).read_bytes() != data]
        if stale:
            print(f"stale: {stale}; run .venv/bin/python tools/gen_openapi.py", file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (OUT / name).write_bytes(data)
        print(f"{OUT.relative_to(ROOT) / name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
