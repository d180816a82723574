"""Prometheus exposition shared by every kubepulse exporter: text rendering (``text``), the HTTP
server with TLS and basic auth (``server``), and a throwaway PKI for tests (``pki``)."""
