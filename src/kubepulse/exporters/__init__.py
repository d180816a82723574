"""Prometheus exporters: system (psutil), cluster (kube-state-metrics compatible)."""
