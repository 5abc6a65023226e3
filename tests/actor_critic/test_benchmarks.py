"""Smoke runs of the actor-critic benchmark scripts on tiny budgets (bookkeeping, not numbers)."""

from __future__ import annotations

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


def test_sac_vs_sb3_smoke(tmp_path):
    bench = _load("sac_vs_sb3")
    args = ["--out", str(tmp_path), "--arms", "rlcore_sac", "--seeds", "1", "--steps", "200"]
    bench.main([*args, "--eval-every", "100", "--eval-episodes", "1"])
    (row,) = [json.loads(x) for x in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert row["arm"] == "rlcore_sac" and row["eval_steps"] == [100, 200]
    assert "| rlcore_sac | 1 |" in (tmp_path / "table.md").read_text()


def test_sac_vs_sb3_ratio_table(tmp_path):
    bench = _load("sac_vs_sb3")
    args = ["--out", str(tmp_path), "--arms", "rlcore_sac", "rlcore_redq", "--seeds", "2"]
    args += ["--steps", "40", "--eval-every", "10", "--coarse-every", "20", "--eval-episodes", "1"]
    args += ["--hidden", "8", "--learning-starts", "30", "--threshold=-1e9"]
    bench.main([*args, "--stop-at-threshold"])
    rows = [json.loads(x) for x in (tmp_path / "runs.jsonl").read_text().splitlines()]
    # a threshold every return reaches: first evaluation on each grid, then the run stops there
    assert {(r["steps_to_threshold"], r["steps_to_threshold_coarse"]) for r in rows} == {(10, 20)}
    assert all(r["eval_steps"] == [10, 20] for r in rows)
    assert all(r["settings"]["learning_starts"] == 30 for r in rows)
    table = (tmp_path / "table.md").read_text()
    assert "rlcore_redq / rlcore_sac, env steps to threshold: IQM ratio **1.00x**" in table


def test_sac_vs_sb3_mujoco_env_needs_the_extra(tmp_path, monkeypatch, capsys):
    bench = _load("sac_vs_sb3")
    monkeypatch.setitem(sys.modules, "mujoco", None)  # import mujoco raises ImportError
    with pytest.raises(SystemExit):
        bench.main(["--out", str(tmp_path), "--env", "InvertedPendulum-v5"])
    assert ".[mujoco]" in capsys.readouterr().err


def test_sac_vs_sb3_inverted_pendulum_smoke(tmp_path):
    pytest.importorskip("mujoco")
    bench = _load("sac_vs_sb3")
    args = ["--out", str(tmp_path), "--env", "InvertedPendulum-v5", "--arms", "rlcore_sac"]
    bench.main([*args, "--seeds", "1", "--steps", "150", "--eval-every", "150"])
    (row,) = [json.loads(x) for x in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert row["env"] == "InvertedPendulum-v5" and row["eval_steps"] == [150]
    assert 1 <= row["final_return"] <= 1000  # +1 per step alive, 1,000-step episodes


def _tiers(directory: Path) -> None:
    gen = np.random.default_rng(0)
    n = 400
    obs = gen.normal(size=(n, 3)).astype(np.float32)
    for tier in ("medium",):
        EpisodeDataset(
            observations=obs,
            actions=gen.uniform(-2, 2, size=(n, 1)).astype(np.float32),
            rewards=-gen.uniform(0, 10, size=n),
            next_observations=obs,
            terminations=np.zeros(n, dtype=bool),
            truncations=np.r_[np.zeros(199, dtype=bool), True, np.zeros(199, dtype=bool), True],
            episode_lengths=np.array([200, 200]),
            env_id="Pendulum-v1",
        ).save(directory / f"{tier}.npz")
    (directory / "tiers.json").write_text(
        json.dumps({"random_return": -1200, "expert_return": -150})
    )


def test_offline_pendulum_smoke(tmp_path, monkeypatch):
    _tiers(tmp_path)
    bench = _load("offline_pendulum")
    common = ["--data", str(tmp_path), "--gradient-steps", "3", "--episodes", "1"]
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "x",
            *common,
            "--out",
            str(tmp_path / "o"),
            "--tiers",
            "medium",
            "--seeds",
            "1",
            "--n-critics",
            "2",
            "--algos",
            "bc",
            "sac_n",
            "edac",
            "iql",
            "idql",
            "diffusion_ql_edp",
        ],
    )
    bench.main()
    table = (tmp_path / "o" / "table.md").read_text()
    assert "| medium | edac | 1 |" in table and "| medium | bc | 1 |" in table
    assert "| medium | idql | 1 |" in table and "| medium | diffusion_ql_edp | 1 |" in table
    assert "| medium | iql | 1 |" in table
    monkeypatch.setattr(
        sys, "argv", ["x", *common, "--out", str(tmp_path / "s"), "--sweep", "--sizes", "2"]
    )
    bench.main()
    assert "| 2 | loop |" in (tmp_path / "s" / "sweep.md").read_text()


def test_offline_pendulum_d3rlpy_arm_needs_its_interpreter(tmp_path, monkeypatch, capsys):
    _tiers(tmp_path)
    bench = _load("offline_pendulum")
    missing = str(tmp_path / "no-venv" / "bin" / "python")
    argv = ["x", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--algos", "d3rlpy_iql"]
    monkeypatch.setattr(sys, "argv", [*argv, "--d3rlpy-python", missing])
    with pytest.raises(SystemExit):
        bench.main()
    err = capsys.readouterr().err
    assert missing in err and "make d3rlpy-venv" in err
