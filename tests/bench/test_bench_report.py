"""Aggregation against known inputs: run directories written by hand, statistics recomputed
independently."""

import json

import numpy as np
import pytest

from rlcore.bench import AgentSpec, Budget, EnvSpec, EvalProtocol, Grid, Suite, expand
from rlcore.bench.report import run_curve, summarize, write_report
from rlcore.bench.runner import record
from rlcore.types import History

SUITE = Suite(
    name="known",
    grids=(
        Grid(
            agents=(
                AgentSpec("policies.random", label="a"),
                AgentSpec("policies.random", label="b"),
            ),
            envs=(
                EnvSpec("FrozenLake-v1", label="e", score_range=(0.0, 2.0)),
                EnvSpec("CliffWalking-v1", label="f", score_range=(-100.0, 0.0)),
            ),
            budget=Budget(episodes=8),
            protocol=EvalProtocol(last_episodes=2, curve_points=4),
        ),
    ),
    seeds=6,
)


def _write_sweep(out, score_of, failed=(), missing=()):
    """Run directories with returns r_k = score + k/10 (episode k) and the given score."""
    (out / "runs").mkdir(parents=True)
    manifest = {
        "format": "rlcore-bench",
        "version": 1,
        "hash": SUITE.hash,
        "suite": SUITE.to_dict(),
        "runs": [r.run_id for r in expand(SUITE)],
    }
    (out / "suite.json").write_text(json.dumps(manifest))
    for spec in expand(SUITE):
        if spec.run_id in missing:
            continue
        if spec.run_id in failed:
            status = {
                "status": "failed",
                "exit_status": 1,
                "error": "Traceback...\nRuntimeError: boom",
            }
            record(out, spec, status, {})
            continue
        score = score_of(spec)
        history = History(
            returns=[score + k / 10 for k in range(8)],
            lengths=[3] * 8,
            wall_times=[0.0] * 8,
            steps=24,
        )
        status = {"status": "done", "exit_status": 0, "score": score}
        files = {"history.json": json.dumps(history.to_dict()).encode()}
        record(out, spec, status, files)


def test_cell_statistics_equal_an_independent_computation(tmp_path):
    values = {"a": [1.0, 2.0, 3.0, 4.0, 10.0, 6.0], "b": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]}
    _write_sweep(
        tmp_path, lambda s: values[s.agent.label][s.seed_index] * (1 if s.env.label == "e" else -10)
    )
    summary = summarize(tmp_path)
    cell = next(c for c in summary["cells"] if (c["agent"], c["env"]) == ("a", "e"))
    assert cell["scores"] == values["a"]
    assert cell["mean"]["estimate"] == pytest.approx(np.mean(values["a"]))
    # IQM of 6 values: scipy's 25%-trimmed mean cuts int(0.25 * 6) = 1 from each end.
    assert cell["iqm"]["estimate"] == pytest.approx(np.mean(sorted(values["a"])[1:-1]))
    for stat in ("mean", "iqm"):
        assert cell[stat]["low"] <= cell[stat]["estimate"] <= cell[stat]["high"]
    constant = next(c for c in summary["cells"] if (c["agent"], c["env"]) == ("b", "e"))
    assert constant["mean"] == {"estimate": 0.5, "low": 0.5, "high": 0.5}
    # Curves: 8 episodes in 4 windows of 2; window k of seed i is mean(score_i + (2k, 2k+1)/10).
    scores = np.array(values["a"])
    expected = np.array([scores.mean() + (2 * k + 0.5) / 10 for k in range(4)])
    assert cell["curve"]["x"] == [2.0, 4.0, 6.0, 8.0]
    np.testing.assert_allclose(cell["curve"]["mean"], expected)
    assert all(
        lo <= m <= hi
        for lo, m, hi in zip(cell["curve"]["low"], cell["curve"]["mean"], cell["curve"]["high"])
    )
    # Aggregates: normalised (score - low) / (high - low), pooled over the envs.
    agg = next(a for a in summary["aggregates"] if a["agent"] == "a")
    pooled = np.concatenate([scores / 2.0, (-10 * scores + 100) / 100])
    assert agg["envs"] == ["e", "f"]
    assert agg["mean"]["estimate"] == pytest.approx(pooled.mean())
    assert agg["mean"]["low"] <= pooled.mean() <= agg["mean"]["high"]


def test_failures_and_missing_runs_are_listed_and_left_out(tmp_path):
    _write_sweep(
        tmp_path, lambda s: float(s.seed_index), failed={"a__e__s002"}, missing={"b__f__s005"}
    )
    report = write_report(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    cell = next(c for c in summary["cells"] if (c["agent"], c["env"]) == ("a", "e"))
    assert (cell["runs"], cell["done"], cell["failed"]) == (6, 5, 1)
    assert cell["scores"] == [0.0, 1.0, 3.0, 4.0, 5.0]
    assert summary["failures"] == [
        {
            "run_id": "a__e__s002",
            "status": "failed",
            "exit_status": 1,
            "error": "RuntimeError: boom",
        }
    ]
    assert summary["missing"] == ["b__f__s005"]
    text = report.read_text()
    assert "a__e__s002" in text and "RuntimeError: boom" in text and "--resume" in text
    assert (tmp_path / "plots" / "curves_e.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "scores.png").is_file()
    rows = (tmp_path / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("agent,env,runs,done,failed,mean") and len(rows) == 5


def test_curve_of_a_step_budget_matches_a_plain_loop():
    spec = expand(
        Suite(
            name="s",
            grids=(
                Grid(
                    agents=(AgentSpec("policies.random"),),
                    envs=(EnvSpec("FrozenLake-v1"),),
                    budget=Budget(steps=100),
                    protocol=EvalProtocol(curve_points=5),
                ),
            ),
            seeds=1,
        )
    )[0]
    lengths = [15, 10, 50, 5, 20]  # episodes end at steps 15, 25, 75, 80, 100
    returns = [1.0, 2.0, 3.0, 4.0, 5.0]
    x, y = run_curve(History(returns=returns, lengths=lengths, wall_times=[0.0] * 5), spec)
    ends = np.cumsum(lengths)
    expected, last = [], np.nan
    for lo, hi in [(0, 20), (20, 40), (40, 60), (60, 80), (80, 100)]:
        inside = [r for r, e in zip(returns, ends) if lo < e <= hi]
        last = np.mean(inside) if inside else last
        expected.append(last)
    np.testing.assert_allclose(x, [20, 40, 60, 80, 100])
    np.testing.assert_allclose(y, expected)
    np.testing.assert_allclose(y, [1, 2, 2, 3.5, 5])  # window 3 carries window 2's value


def test_report_needs_a_sweep_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no rlcore bench results"):
        summarize(tmp_path)
