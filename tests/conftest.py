"""Test-wide settings: one math thread (2-core machines; oversubscription made a small MLP 28x
slower), a non-interactive matplotlib backend, and hypothesis profiles."""

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "default", deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", deadline=None, max_examples=50, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def pytest_configure(config):
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return
    torch.set_num_threads(1)


@pytest.fixture
def isolated_registry():
    """Forget every public name a test registers (loads all providers first, so nothing is
    half-loaded when the registry is restored). Keeps the golden-names test independent of
    test order."""
    from rlcore import registry

    registry.names()
    tables = (registry._by_name, registry._canonical, registry._deprecated, registry._name_of)
    saved = [dict(t) for t in tables]
    yield registry
    for table, before in zip(tables, saved):
        table.clear()
        table.update(before)
