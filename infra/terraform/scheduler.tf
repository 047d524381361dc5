# Cloud Scheduler calls each scheduled HTTP function (resync) with an OIDC token of
# the scheduler service account, which may invoke that function and nothing else.

resource "google_cloud_scheduler_job" "job" {
  for_each = local.scheduled_functions

  project          = var.project
  region           = var.region
  name             = "${var.cluster_name}-${replace(each.key, "_", "-")}"
  description      = "firecontrol ${var.cluster_name}: call ${each.key}"
  schedule         = each.key == "resync" && var.resync_schedule != null ? var.resync_schedule : each.value.schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "${each.value.timeout}s"

  # The next tick is the retry.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.function[each.key].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.function[each.key].service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invoker]
}
