"""Smoke run of benchmarks/dqn_vs_sb3.py on a tiny budget (outputs and bookkeeping, not numbers),
plus its paired ratio interval against a direct computation. The SB3 arm runs in the slow set,
when stable-baselines3 is installed."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _smoke(tmp_path, arms):
    bench = _load("dqn_vs_sb3")
    kwargs = dict(seeds=2, steps=400, eval_every=200, eval_episodes=2, arms=arms)
    summary = bench.figure_dqn_vs_sb3(tmp_path, **kwargs)
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert sorted((r["arm"], r["seed"]) for r in runs) == sorted(
        (a, s) for a in arms for s in (0, 1)
    )
    for r in runs:
        assert r["eval_steps"] == [200, 400] and len(r["eval_returns"]) == 2
        assert 0 < r["eval_wall"][0] <= r["eval_wall"][1]  # training time only grows
    assert summary["seeds"] == [0, 1] and set(summary["arms"]) == set(arms)
    assert (tmp_path / "dqn_vs_sb3.png").stat().st_size > 0
    assert "| rlcore_fast |" in (tmp_path / "table.md").read_text()
    bench.figure_dqn_vs_sb3(tmp_path, **kwargs)  # finished runs are not run again
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == len(runs)


def test_dqn_benchmark_writes_table_plot_and_resumable_runs(tmp_path):
    _smoke(tmp_path, ("rlcore_zoo", "rlcore_fast"))


@pytest.mark.slow  # importing and building SB3 takes most of the time
def test_dqn_benchmark_with_sb3(tmp_path):
    pytest.importorskip("stable_baselines3")
    _smoke(tmp_path, ("sb3_zoo", "rlcore_fast"))


def test_paired_ratio_estimate_and_interval():
    bench = _load("dqn_vs_sb3")
    a = np.array([10.0, 12.0, 8.0, 11.0, 9.0])
    b = np.array([20.0, 25.0, 18.0, 22.0, np.inf])  # an unsolved run of b counts as never
    estimate, low, high = bench.paired_ratio(a, b, bench._median)
    assert estimate == pytest.approx(np.median(a) / np.median(b))
    assert low <= estimate <= high and math.isfinite(high)
    assert math.isnan(bench.paired_ratio(np.zeros(3), np.zeros(3), bench._mean)[0])  # 0/0
