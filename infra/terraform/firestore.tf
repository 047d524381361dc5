# The Firestore database (native mode), the TTL policy on events, and the security
# rules: no web or mobile client may read or write anything.
#
# No composite index is needed. The functions run: pods of one namespace where
# metadata.ownerReferences array-contains X OR (metadata.labels.K == V AND ...), which
# Firestore serves from its automatic single-field indexes (each disjunct is
# equality-only or a lone array-contains); a namespace's replicaSets (a Deployment's
# pass) filtered the same way or read whole; and unfiltered collection-group scans of
# replicationControllers, replicaSets, deployments, pods and services, which need no
# index either. Resync's one
# filtered collection-group query, heartbeats with renewTime before a time, needs a
# collection-group index on that field, which Firestore does not make by itself.

resource "google_firestore_database" "main" {
  project                           = var.project
  name                              = local.database
  location_id                       = local.firestore_location
  type                              = "FIRESTORE_NATIVE"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  deletion_policy                   = "ABANDON"

  lifecycle {
    precondition {
      condition     = local.database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", local.database))
      error_message = "The database is named after cluster_name unless set: a cluster_name shorter than 4 characters needs var.database."
    }
  }

  depends_on = [google_project_service.api]
}

# Events (namespaces/{ns}/events/{id}) are deleted once their expireAt has passed.
resource "google_firestore_field" "events_ttl" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "events"
  field      = "expireAt"

  ttl_config {}
}

# Leases (namespaces/{ns}/leases/{id}), by which pods' changes share one controller
# pass a second, are deleted once their expireAt has passed.
resource "google_firestore_field" "leases_ttl" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "leases"
  field      = "expireAt"

  ttl_config {}
}

# Heartbeats (namespaces/{ns}/heartbeats/{pod}, docs/agent-protocol.md §4-5) outlive
# their pod by a day at most, and resync finds the silent ones across namespaces.
resource "google_firestore_field" "heartbeats_ttl" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "heartbeats"
  field      = "expireAt"

  ttl_config {}
}

resource "google_firestore_field" "heartbeats_renew_time" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "heartbeats"
  field      = "renewTime"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

resource "google_firebaserules_ruleset" "firestore" {
  project = var.project

  source {
    files {
      name    = "firestore.rules"
      content = file("${path.module}/../firestore.rules")
    }
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_project_service.api, google_firestore_database.main]
}

# The rules apply to this installation's database: its release is cloud.firestore/{database}.
resource "google_firebaserules_release" "firestore" {
  project      = var.project
  name         = local.rules_release
  ruleset_name = "projects/${var.project}/rulesets/${google_firebaserules_ruleset.firestore.name}"

  lifecycle {
    replace_triggered_by = [google_firebaserules_ruleset.firestore]
  }
}
