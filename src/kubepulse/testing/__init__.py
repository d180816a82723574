"""A local Kubernetes cluster for tests, benchmarks and the demo: a real control plane plus kwok."""
