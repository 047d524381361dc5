# Four service accounts, each with the least it needs. Nothing is granted to allUsers
# or allAuthenticatedUsers: no function can be invoked publicly.
#
#   runtime    what the functions run as: Firestore, the pods' VMs, the load balancers
#   trigger    what Eventarc invokes the Firestore-triggered functions as
#   scheduler  what Cloud Scheduler calls resync as (an OIDC token)
#   build      what Cloud Build builds the functions' images as

resource "google_service_account" "runtime" {
  project      = var.project
  account_id   = "${var.cluster_name}-runtime"
  display_name = "firecontrol ${var.cluster_name}: functions runtime"
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

# The load balancer code creates one firewall rule per service; no predefined role
# short of Compute Security Admin allows that, so a custom role holds just these.
resource "google_project_iam_custom_role" "firewalls" {
  project     = var.project
  role_id     = "firecontrolFirewalls_${replace(var.cluster_name, "-", "_")}"
  title       = "firecontrol ${var.cluster_name}: firewall rules"
  description = "Create, update and delete the firewall rules of firecontrol's load balancers."
  permissions = [
    "compute.firewalls.create",
    "compute.firewalls.delete",
    "compute.firewalls.get",
    "compute.firewalls.list",
    "compute.firewalls.update",
    "compute.networks.updatePolicy",
  ]
}

locals {
  # Project-level roles, per service account. Invocation rights are not here: they
  # are granted on each function's Cloud Run service (below and in functions.tf).
  project_roles = {
    runtime = ["roles/datastore.user", "roles/compute.instanceAdmin.v1", "roles/compute.loadBalancerAdmin"]
    trigger = ["roles/eventarc.eventReceiver"]
    build   = ["roles/logging.logWriter", "roles/artifactregistry.writer"]
  }
  service_account_emails = {
    runtime   = google_service_account.runtime.email
    trigger   = google_service_account.trigger.email
    scheduler = google_service_account.scheduler.email
    build     = google_service_account.build.email
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

resource "google_project_iam_member" "runtime_firewalls" {
  project = var.project
  role    = google_project_iam_custom_role.firewalls.id
  member  = "serviceAccount:${google_service_account.runtime.email}"
}

# The build reads the source archive from this module's bucket only.
resource "google_storage_bucket_iam_member" "build_source_reader" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}

# Eventarc may invoke the Firestore-triggered functions, Cloud Scheduler only resync:
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
