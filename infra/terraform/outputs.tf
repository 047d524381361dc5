output "firestore_database" {
  description = "The Firestore database (native mode)."
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

output "service_accounts" {
  description = "The runtime, trigger, scheduler and build service accounts."
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
