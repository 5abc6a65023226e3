"""Smoke run of benchmarks/offline_generative.py on tiny budgets (outputs, not numbers)."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rlcore.data import EpisodeDataset

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_bandit_benchmark_writes_its_outputs(tmp_path):
    bench = _load("offline_generative")
    summary = bench.bandit(tmp_path, seeds=2, steps=4, hidden=8, n_data=50)
    for name in ("bandit.json", "bandit.md", "bandit_actions.png"):
        assert (tmp_path / name).exists()
    expected = {"gaussian_bc", "diffusion_bc", "idql", "diffusion_ql", "diffusion_ql_edp"}
    expected |= {f"propose_rank_{m}" for m in (1, 2, 5, 10)}
    expected |= {"diffusion_ql_rank50", "diffusion_ql_edp_rank50"}
    assert set(summary) == expected
    assert json.loads((tmp_path / "bandit.json").read_text())["summary"].keys() == expected


def test_benchmark_method_subsets(tmp_path):
    bench = _load("offline_generative")
    summary = bench.bandit(
        tmp_path, seeds=1, steps=2, hidden=8, n_data=20, methods=["diffusion_ql_edp"]
    )
    assert set(summary) == {"diffusion_ql_edp"}
    summary = bench.bandit(tmp_path, seeds=1, steps=2, hidden=8, n_data=20,
                           methods=["diffusion_ql_edp_rank50"])  # fmt: skip
    assert set(summary) == {"diffusion_ql_edp_rank50"}
    with pytest.raises(SystemExit, match="unknown"):
        bench.bandit(tmp_path, seeds=1, steps=2, methods=["nope"])
    with pytest.raises(SystemExit, match="unknown"):
        bench.cost(tmp_path, steps=1, repeats=1, latency=False, methods=["nope"])


def test_maze_methods_are_checked_and_listed(tmp_path):
    bench = _load("offline_generative")
    with pytest.raises(SystemExit, match="unknown"):
        bench.maze(tmp_path, "umaze", seeds=1, steps=1, episodes=1, n_data=1, methods=["nope"])
    with pytest.raises(SystemExit, match="--d3rlpy-python"):
        bench.maze(tmp_path, "umaze", seeds=1, steps=1, episodes=1, n_data=1,
                   methods=["d3rlpy_iql"])  # fmt: skip
    agents = bench._maze_agents(None, None, None, None, 0, 1, "python")
    assert tuple(agents) == bench.MAZE_METHODS


def test_reward_tuning_maps_sparse_rewards_and_keeps_the_rest():
    bench = _load("offline_generative")
    steps = [
        dict(observations=np.zeros((3, 2)), actions=np.zeros((3, 1)),
             rewards=np.array([0.0, 1.0, 0.0]), next_observations=np.ones((3, 2)),
             terminations=np.zeros(3, bool),
             truncations=np.array([False, False, True]))
    ]  # fmt: skip
    data = EpisodeDataset.from_episodes(steps)
    tuned = bench._reward_tuned(data)
    np.testing.assert_array_equal(tuned.rewards, [-2.0, 2.0, -2.0])  # (r - 0.5) * 4
    np.testing.assert_array_equal(tuned.observations, data.observations)
    np.testing.assert_array_equal(data.rewards, [0.0, 1.0, 0.0])  # the input is not changed
