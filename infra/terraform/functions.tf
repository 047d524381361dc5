# The source bucket and archive, and one Cloud Function (2nd gen) per entry in
# infra/functions.yaml: a Firestore document trigger or HTTP, as that file says, run as
# the service account its `runs_as` names. Ingress is internal-only but for the functions
# users call from anywhere (`invoker: users`, kube_api: kubectl runs on a laptop); Cloud
# Run's IAM check refuses every caller without the invoker role either way.

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Access logs of a bucket holding only our own deploy archives would be noise; Cloud Audit Logs record admin access.
  project                     = var.project
  name                        = "${var.project}-${var.cluster_name}-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  versioning {
    enabled = true
  }

  # Archives are named by content; old ones are of no use once replaced.
  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.api]
}

data "archive_file" "source" {
  type        = "zip"
  output_path = "${path.module}/.build/source-${substr(local.source_hash, 0, 16)}.zip"

  dynamic "source" {
    for_each = toset(local.source_files)
    content {
      content  = file("${local.source_root}/${source.value}")
      filename = source.value
    }
  }
}

resource "google_storage_bucket_object" "source" {
  bucket = google_storage_bucket.source.name
  name   = "source-${substr(local.source_hash, 0, 16)}.zip"
  source = data.archive_file.source.output_path
}

resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  project     = var.project
  location    = var.region
  name        = "${var.cluster_name}-${replace(each.key, "_", "-")}"
  description = "firecontrol ${var.cluster_name}: ${each.key}"
  labels      = local.labels

  build_config {
    runtime         = local.spec.runtime
    entry_point     = each.key
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory               = each.value.memory
    timeout_seconds                = each.value.timeout
    max_instance_count             = each.value.max_instances
    min_instance_count             = 0
    environment_variables          = local.environment
    service_account_email          = local.service_account_emails[try(each.value.runs_as, "runtime")]
    ingress_settings               = try(each.value.invoker, null) == "users" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
  }

  dynamic "event_trigger" {
    for_each = each.value.trigger.type == "firestore" ? [each.value.trigger] : []
    content {
      trigger_region        = local.firestore_location
      event_type            = event_trigger.value.event
      retry_policy          = event_trigger.value.retry ? "RETRY_POLICY_RETRY" : "RETRY_POLICY_DO_NOT_RETRY"
      service_account_email = google_service_account.trigger.email

      event_filters {
        attribute = "database"
        value     = google_firestore_database.main.name
      }

      event_filters {
        attribute = "document"
        value     = event_trigger.value.document
        operator  = "match-path-pattern"
      }
    }
  }

  depends_on = [
    google_project_service.api,
    google_project_iam_member.project_role,
    google_project_iam_member.runtime_role,
    google_project_iam_member.runtime_database,
    google_project_iam_member.status_database,
    google_storage_bucket_iam_member.build_source_reader,
  ]
}
