"""Smoke runs of the diffusion-policy benchmark scripts on tiny budgets (outputs, not numbers)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_navigation_benchmark_writes_its_outputs(tmp_path):
    from rlcore.diffusion_policy import NetworkConfig, TrainConfig

    bench = _load("diffusion_policy_navigation")
    tiny = bench.Budget(4, NetworkConfig(hidden=16, depth=1), TrainConfig(3, 16), 1)
    result = bench.navigation_benchmark(tmp_path, seeds=2, budget=tiny)
    for name in ("results.json", "summary.md", "metrics.png", "paths.png"):
        assert (tmp_path / name).exists()
    assert set(result["summary"]) == {label for label, *_ in bench.EVALUATIONS}


def test_latency_benchmark_runs_on_cpu(tmp_path):
    bench = _load("diffusion_policy_latency")
    result = bench.latency(tmp_path, nets=("mlp_3x256",), repeats=2)
    rows = json.loads((tmp_path / "latency_cpu.json").read_text())["rows"]
    assert {r["method"] for r in rows} == {label for label, *_ in bench.METHODS}
    assert all(r["median_ms"] > 0 and r["card"] for r in rows) and result["device"] == "cpu"
