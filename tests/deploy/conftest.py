"""Fixtures for the deploy tests: the Helm binary and the chart's rendered objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from deploy_helpers import find_helm, render, run_helm


@pytest.fixture(scope="session")
def rendered() -> list[dict[str, Any]]:
    """The chart rendered with its default values."""
    return render()


@pytest.fixture(scope="session")
def helm() -> Callable[..., str]:
    """`helm(*args, kubeconfig=..., check=True)` runs the helm binary `make helm` provides."""
    find_helm()
    return run_helm
