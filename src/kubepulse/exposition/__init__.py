"""Prometheus exposition: text rendering (``text``) shared by every kubepulse exporter."""
