# The APIs the system uses, enabled and left enabled on destroy.

resource "google_project_service" "api" {
  for_each = local.apis

  project            = var.project
  service            = each.value
  disable_on_destroy = false
}
