# The project's number: part of the pod_status function's deterministic Cloud Run URL
# (https://{service}-{number}.{region}.run.app), which every function is told before
# any is deployed. Kept apart from locals.tf, which needs no provider.

data "google_project" "project" {
  project_id = var.project
}

locals {
  project_number = data.google_project.project.number
}
