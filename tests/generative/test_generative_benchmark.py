"""Smoke run of benchmarks/generative_2d.py on a tiny budget (outputs, not numbers)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_generative_2d_benchmark_writes_its_outputs(tmp_path):
    bench = _load("generative_2d")
    tiny = bench.Settings(hidden=16, depth=1, train_steps=3, batch=32, n_eval=100)
    bench.benchmark_generative_2d(
        tmp_path, densities=("two_moons",), predictions=("epsilon",), settings=tiny
    )
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    methods = {(r["method"], r["steps"]) for r in rows}
    expected = {("data", 0), ("noise", 0)}
    expected |= {(f"{s}-epsilon", n) for s, n in bench.DIFFUSION_SAMPLERS}
    expected |= {(f"flow-{s}", n) for s, n in bench.FLOW_SAMPLERS}
    assert methods == expected
    assert (tmp_path / "samples.png").stat().st_size > 0
    assert "| ddim-epsilon | 5 |" in (tmp_path / "results.md").read_text()
