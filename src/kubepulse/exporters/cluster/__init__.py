"""kube-state-metrics-compatible cluster exporter (``kubepulse exporter cluster``)."""
