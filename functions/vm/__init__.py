"""What runs on a pod's VM: a fixed cloud-init config and launcher, and the pod as metadata."""
