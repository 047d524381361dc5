# Six service accounts, each with the least it needs. Nothing is granted to allUsers
# or allAuthenticatedUsers: no function can be invoked publicly.
#
#   runtime    what the functions run as: this installation's database, and its own
#              VMs and load balancers (custom roles under IAM conditions, infra/iam.yaml)
#   status     what pod_status runs as: this installation's database, nothing else
#   trigger    what Eventarc invokes the Firestore-triggered functions as
#   scheduler  what Cloud Scheduler calls resync as (an OIDC token)
#   build      what Cloud Build builds the functions' images as
#   pods       what the pods' VMs run as: no project role; it may invoke pod_status
#              and nothing else
#
# People (var.kube_api_invokers) may invoke kube_api, the Kubernetes API, and nothing else.

resource "google_service_account" "runtime" {
  project      = var.project
  account_id   = "${var.cluster_name}-runtime"
  display_name = "firecontrol ${var.cluster_name}: functions runtime"
}

resource "google_service_account" "status" {
  project      = var.project
  account_id   = "${var.cluster_name}-status"
  display_name = "firecontrol ${var.cluster_name}: pod_status runtime (Firestore only)"
}

resource "google_service_account" "trigger" {
  project      = var.project
  account_id   = "${var.cluster_name}-trigger"
  display_name = "firecontrol ${var.cluster_name}: Eventarc triggers"
}

resource "google_service_account" "scheduler" {
  project      = var.project
  account_id   = "${var.cluster_name}-scheduler"
  display_name = "firecontrol ${var.cluster_name}: Cloud Scheduler resync"
}

resource "google_service_account" "build" {
  project      = var.project
  account_id   = "${var.cluster_name}-build"
  display_name = "firecontrol ${var.cluster_name}: function builds"
}

resource "google_service_account" "pods" {
  project      = var.project
  account_id   = "${var.cluster_name}-pods"
  display_name = "firecontrol ${var.cluster_name}: pods' VMs (invoke pod_status only)"
}

# The runtime's rights, from infra/iam.yaml: one custom role per entry, each granted
# under its condition (its own resource names, the network, or none for lists).
resource "google_project_iam_custom_role" "runtime" {
  for_each = local.runtime_roles

  project     = var.project
  role_id     = each.value.role_id
  title       = each.value.title
  description = "firecontrol ${var.cluster_name}: see infra/iam.yaml (${each.key})."
  permissions = each.value.permissions
}

locals {
  # Project-level roles, per service account. Invocation rights are not here: they
  # are granted on each function's Cloud Run service (below and in functions.tf).
  project_roles = {
    trigger = ["roles/eventarc.eventReceiver"]
    build   = ["roles/logging.logWriter", "roles/artifactregistry.writer"]
  }
  service_account_emails = {
    runtime   = google_service_account.runtime.email
    status    = google_service_account.status.email
    trigger   = google_service_account.trigger.email
    scheduler = google_service_account.scheduler.email
    build     = google_service_account.build.email
    pods      = google_service_account.pods.email
  }
  project_bindings = merge([
    for account, roles in local.project_roles : {
      for role in roles : "${account} ${role}" => { account = account, role = role }
    }
  ]...)
}

resource "google_project_iam_member" "project_role" {
  for_each = local.project_bindings

  project = var.project
  role    = each.value.role
  member  = "serviceAccount:${local.service_account_emails[each.value.account]}"
}

resource "google_project_iam_member" "runtime_role" {
  for_each = local.runtime_roles

  project = var.project
  role    = google_project_iam_custom_role.runtime[each.key].id
  member  = "serviceAccount:${google_service_account.runtime.email}"

  dynamic "condition" {
    for_each = each.value.condition == null ? [] : [each.value.condition]
    content {
      title       = "firecontrol-${var.cluster_name}-${each.key}"
      description = "firecontrol ${var.cluster_name}: only this installation's resources"
      expression  = condition.value
    }
  }
}

# Firestore: this installation's database only.
resource "google_project_iam_member" "runtime_database" {
  project = var.project
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.runtime.email}"

  condition {
    title       = "firecontrol-${var.cluster_name}-database"
    description = "firecontrol ${var.cluster_name}: only this installation's resources"
    expression  = local.database_condition
  }
}

# pod_status: the same database, and nothing of Compute (a report never touches a VM).
resource "google_project_iam_member" "status_database" {
  project = var.project
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.status.email}"

  condition {
    title       = "firecontrol-${var.cluster_name}-status-database"
    description = "firecontrol ${var.cluster_name}: only this installation's resources"
    expression  = local.database_condition
  }
}

# The runtime makes VMs that run as the pods' account: it may use that account, and no other.
resource "google_service_account_iam_member" "runtime_uses_pods" {
  service_account_id = google_service_account.pods.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.runtime.email}"
}

# The build reads the source archive from this module's bucket only.
resource "google_storage_bucket_iam_member" "build_source_reader" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}

# Eventarc may invoke the Firestore-triggered functions, Cloud Scheduler only resync, the
# pods' VMs only pod_status:
# run.invoker on each function's own Cloud Run service, never on the project.
resource "google_cloud_run_v2_service_iam_member" "trigger_invoker" {
  for_each = local.firestore_functions

  project  = var.project
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.trigger.email}"
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invoker" {
  for_each = local.scheduled_functions

  project  = var.project
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_run_v2_service_iam_member" "pods_invoker" {
  for_each = local.pod_functions

  project  = var.project
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pods.email}"
}

# kube_api: the members of var.kube_api_invokers (people, groups, CI accounts), on its own
# service only.
resource "google_cloud_run_v2_service_iam_member" "user_invoker" {
  for_each = local.user_invokers

  project  = var.project
  location = var.region
  name     = google_cloudfunctions2_function.function[each.value.function].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value.member
}
