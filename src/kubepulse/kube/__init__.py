"""Talking to Kubernetes: client, informer, selectors."""
