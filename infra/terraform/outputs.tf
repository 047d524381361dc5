output "firestore_database" {
  description = "The installation's Firestore database (native mode)."
  value       = google_firestore_database.main.name
}

output "source_bucket" {
  description = "The bucket holding the functions' source archives."
  value       = google_storage_bucket.source.name
}

output "source_archive" {
  description = "The archive the functions are built from."
  value       = google_storage_bucket_object.source.name
}

output "functions" {
  description = "Each function's Cloud Functions name and Cloud Run URL, by entry point."
  value = {
    for name, f in google_cloudfunctions2_function.function :
    name => { name = f.name, uri = f.service_config[0].uri }
  }
}

output "pod_status_url" {
  description = "Where the pods' agents report (FIRECONTROL_POD_STATUS_URL): the pod_status function's deterministic run.app URL, also their tokens' audience."
  value       = local.pod_status_url
}

output "service_accounts" {
  description = "The runtime, status, trigger, scheduler, build and pods service accounts."
  value       = local.service_account_emails
}

output "scheduler_jobs" {
  description = "The Cloud Scheduler jobs, by the function they call."
  value       = { for name, job in google_cloud_scheduler_job.job : name => job.name }
}

output "environment" {
  description = "The environment every function runs with."
  value       = local.environment
}

output "cloud_nat" {
  description = "The Cloud Router and NAT the pods' VMs reach the internet through (null: none made here)."
  value       = local.cloud_nat ? { router = google_compute_router.nat[0].name, nat = google_compute_router_nat.nat[0].name } : null
}

output "runtime_roles" {
  description = "The runtime's custom roles and the condition each is granted under."
  value       = { for key, role in local.runtime_roles : key => { role = google_project_iam_custom_role.runtime[key].id, condition = role.condition } }
}

output "kube_api_url" {
  description = "kubectl's server: the kube_api function's deterministic run.app URL, also the audience of its callers' identity tokens. `python main.py kubeconfig --server URL` writes a kubeconfig for it."
  value       = local.kube_api_url
}
