variable "project" {
  description = "The Google Cloud project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the functions, the scheduler job, the source bucket and the load balancers (FIRECONTROL_REGION)."
  type        = string
  default     = "us-central1"
}

variable "zone" {
  description = "Zone of the pods' VMs (FIRECONTROL_ZONE)."
  type        = string
  default     = "us-central1-a"
}

variable "cluster_name" {
  description = "Name of this installation: prefixes and labels every cloud resource it owns (FIRECONTROL_CLUSTER)."
  type        = string
  default     = "firecontrol"

  validation {
    # No '-': the runtime's IAM conditions admit names starting with "{cluster}-", which for
    # a cluster "prod" would also admit every resource of a cluster "prod-eu".
    condition     = can(regex("^[a-z][a-z0-9]{1,15}$", var.cluster_name))
    error_message = "cluster_name: 2 to 16 lower-case letters and digits, starting with a letter, and no '-' (the runtime's IAM conditions admit names starting with \"<cluster_name>-\": with a '-', one cluster's prefix would cover another's names)."
  }
}

variable "max_replicas" {
  description = "Cap on spec.replicas of any controller, a guard against runaway cost (FIRECONTROL_MAX_REPLICAS)."
  type        = number
  default     = 100

  validation {
    condition     = var.max_replicas >= 0 && var.max_replicas <= 10000 && floor(var.max_replicas) == var.max_replicas
    error_message = "max_replicas: a whole number from 0 to 10000."
  }
}

variable "resync_schedule" {
  description = "Cron schedule (UTC) of the resync job; null keeps the one in infra/functions.yaml."
  type        = string
  default     = null
}

variable "firestore_location" {
  description = "Location of the Firestore database (a region such as us-central1, or nam5); null means var.region. The Firestore triggers live there too."
  type        = string
  default     = null
}

variable "database" {
  description = "The installation's Firestore database (FIRECONTROL_DATABASE); null means one named after cluster_name. Two installations in one project need two databases."
  type        = string
  default     = null

  validation {
    condition     = var.database == null || var.database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.database))
    error_message = "database: 4 to 63 lower-case letters, digits and '-', starting with a letter, or \"(default)\"."
  }
}

variable "external_ips" {
  description = "Give the pods' VMs external IPs (FIRECONTROL_EXTERNAL_IPS); false: none, and egress through Cloud NAT."
  type        = bool
  default     = false
}

variable "cloud_nat" {
  description = "Create a Cloud Router and Cloud NAT for the network in the region (when the VMs have no external IP). One NAT serves a network's subnetworks in a region: set false when one exists already (for instance another installation's)."
  type        = bool
  default     = true
}

variable "network" {
  description = "The VPC network of the pods' VMs (functions/cloudprovider/config.py uses \"default\")."
  type        = string
  default     = "default"
}

variable "agent_heartbeat" {
  description = "Seconds between a pod agent's reports when nothing changes (FIRECONTROL_AGENT_HEARTBEAT)."
  type        = number
  default     = 60

  validation {
    condition     = var.agent_heartbeat >= 1 && var.agent_heartbeat <= 3600 && floor(var.agent_heartbeat) == var.agent_heartbeat
    error_message = "agent_heartbeat: whole seconds from 1 to 3600."
  }
}

variable "heartbeat_timeout" {
  description = "Seconds of agent silence after which a pod is Ready Unknown (FIRECONTROL_HEARTBEAT_TIMEOUT)."
  type        = number
  default     = 180

  validation {
    condition     = var.heartbeat_timeout >= 1 && var.heartbeat_timeout <= 86400
    error_message = "heartbeat_timeout: seconds from 1 to 86400."
  }
}

variable "eviction_timeout" {
  description = "Seconds after the heartbeat timeout after which a silent pod is Failed and replaced (FIRECONTROL_EVICTION_TIMEOUT)."
  type        = number
  default     = 300

  validation {
    condition     = var.eviction_timeout >= 0 && var.eviction_timeout <= 86400
    error_message = "eviction_timeout: seconds from 0 to 86400."
  }
}

variable "kube_api_invokers" {
  description = "Who may call the Kubernetes API (kubectl): IAM members such as user:me@example.com or group:ops@example.com, granted roles/run.invoker on the kube-api function only. The deployer, as owner, may call it already."
  type        = list(string)
  default     = []

  validation {
    # Every member is kind:id, so the public members (which have no kind) never pass.
    condition     = alltrue([for m in var.kube_api_invokers : can(regex("^((user|group|serviceAccount|domain):[^\\s,:]+|(principal|principalSet)://[^\\s,]+)$", m))])
    error_message = "kube_api_invokers: IAM members like user:me@example.com, group:ops@example.com or serviceAccount:ci@PROJECT.iam.gserviceaccount.com; the Kubernetes API is never public."
  }
}
