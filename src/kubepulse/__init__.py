"""kubepulse: monitor Kubernetes with Prometheus and Grafana."""

__version__ = "0.1.0"
