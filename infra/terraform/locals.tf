# firecontrol on Google Cloud: Firestore holds the desired state, Cloud Functions (2nd
# gen) reconcile it, Cloud Scheduler calls resync. The functions, their triggers and
# their sizes come from infra/functions.yaml, the one definition deploy.sh and the
# local stack read too.

locals {
  spec                = yamldecode(file("${path.module}/../functions.yaml"))
  functions           = { for f in local.spec.functions : f.name => f }
  firestore_functions = { for name, f in local.functions : name => f if f.trigger.type == "firestore" }
  scheduled_functions = { for name, f in local.functions : name => f if f.trigger.type == "http" && try(f.invoker, null) == "scheduler" }
  pod_functions       = { for name, f in local.functions : name => f if f.trigger.type == "http" && try(f.invoker, null) == "pods" }
  user_functions      = { for name, f in local.functions : name => f if f.trigger.type == "http" && try(f.invoker, null) == "users" }
  # Each users' function (kube_api) with each member of var.kube_api_invokers.
  user_invokers = merge([
    for name, f in local.user_functions : { for member in var.kube_api_invokers : "${name} ${member}" => { function = name, member = member } }
  ]...)

  firestore_location = coalesce(var.firestore_location, var.region)

  # Every installation has its own database (named after the cluster unless told), and
  # every name below carries the cluster, so installations share a project apart.
  database             = coalesce(var.database, var.cluster_name)
  rules_release        = local.database == "(default)" ? "cloud.firestore" : "cloud.firestore/${local.database}"
  pods_service_account = "${var.cluster_name}-pods@${var.project}.iam.gserviceaccount.com"
  # Where the pods' agents report, and the audience of their identity tokens: the
  # pod_status function's deterministic run.app URL (infra/spec.py computes the same).
  pod_status_url = "https://${var.cluster_name}-pod-status-${local.project_number}.${var.region}.run.app"
  # kubectl's server, and the audience of its identity tokens (infra/spec.py computes the same).
  kube_api_url = "https://${var.cluster_name}-kube-api-${local.project_number}.${var.region}.run.app"
  cloud_nat    = var.cloud_nat && !var.external_ips

  # The runtime's rights (infra/iam.yaml, which deploy.sh reads through spec.py): custom
  # roles granted under IAM conditions written for this installation.
  iam = yamldecode(file("${path.module}/../iam.yaml"))
  runtime_roles = {
    for key, role in local.iam.roles : key => {
      role_id     = "${role.id}_${replace(var.cluster_name, "-", "_")}"
      title       = replace(role.title, "{cluster}", var.cluster_name)
      permissions = sort(role.permissions)
      condition = try(role.condition, null) == null ? null : replace(replace(replace(replace(replace(role.condition,
        "{project}", var.project), "{region}", var.region), "{cluster}", var.cluster_name),
      "{network}", var.network), "{database}", local.database)
    }
  }
  database_condition = replace(replace(local.iam.database_condition, "{project}", var.project), "{database}", local.database)

  # The uploaded source: the files functions.yaml names, relative to the repository.
  # The object is named by a hash of their names and contents (infra/spec.py computes
  # the same name), so an unchanged tree never redeploys.
  source_root  = "${path.module}/../.."
  source_files = sort(distinct(flatten([for pattern in local.spec.source : tolist(fileset(local.source_root, pattern))])))
  source_hash  = sha256(join("", [for f in local.source_files : "${f}:${filesha256("${local.source_root}/${f}")}\n"]))

  # What every function reads from its environment (functions/config.py).
  environment = {
    GOOGLE_CLOUD_PROJECT            = var.project
    FIRECONTROL_REGION              = var.region
    FIRECONTROL_ZONE                = var.zone
    FIRECONTROL_CLUSTER             = var.cluster_name
    FIRECONTROL_DATABASE            = local.database
    FIRECONTROL_MAX_REPLICAS        = tostring(var.max_replicas)
    FIRECONTROL_EXTERNAL_IPS        = tostring(var.external_ips)
    FIRECONTROL_POD_SERVICE_ACCOUNT = local.pods_service_account
    FIRECONTROL_POD_STATUS_URL      = local.pod_status_url
    FIRECONTROL_AGENT_HEARTBEAT     = tostring(var.agent_heartbeat)
    FIRECONTROL_HEARTBEAT_TIMEOUT   = tostring(var.heartbeat_timeout)
    FIRECONTROL_EVICTION_TIMEOUT    = tostring(var.eviction_timeout)
    CLOUD_PROVIDER                  = "gce"
  }

  labels = { firecontrol-cluster = var.cluster_name }

  apis = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "eventarc.googleapis.com",
    "firebaserules.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
  ])
}
