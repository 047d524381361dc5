# Egress for the pods' VMs, which have no external IP (unless var.external_ips): a
# Cloud Router and Cloud NAT for the network in the region, named with the cluster.
# One NAT serves a network's subnetworks in a region; where one exists already (another
# installation's), set var.cloud_nat = false and the VMs use that one.

resource "google_compute_router" "nat" {
  count = local.cloud_nat ? 1 : 0

  project     = var.project
  name        = "${var.cluster_name}-router"
  region      = var.region
  network     = var.network
  description = "firecontrol ${var.cluster_name}: Cloud NAT for the pods' VMs"

  depends_on = [google_project_service.api]
}

resource "google_compute_router_nat" "nat" {
  count = local.cloud_nat ? 1 : 0

  project                            = var.project
  name                               = "${var.cluster_name}-nat"
  router                             = google_compute_router.nat[0].name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}
