"""Compiled per-run loops of the chapter 9-10 figures (``rlcore.approximation.compiled``, issue 19
item 3): compiled equals uncompiled bit for bit; Mountain Car Sarsa has the statistics of the
batched NumPy engine ``run_linear_sarsa``; aggregated TD(0) on the 1000-state walk follows its
expected path to the TD fixed point (eq. 9.12), derived exactly from the model.
"""

import numpy as np
import pytest

from rlcore.approximation.batched import run_linear_sarsa
from rlcore.approximation.compiled import run_aggregated_td0, run_mountain_car_sarsa
from rlcore.approximation.features import StateAggregation, TileCoding
from rlcore.approximation.mountain_car import MountainCarBatch
from rlcore.book import ch9
from rlcore.book.ch10 import mountain_car_tiles
from rlcore.book.plotting import spread
from rlcore.tabular.compiled import numba_available

needs_numba = pytest.mark.skipif(not numba_available(), reason="numba (the fast extra) missing")


def _groups(n_groups=10):
    group = np.full(ch9.N + 2, n_groups, np.int64)
    group[1:-1] = StateAggregation(1, ch9.N, n_groups, discrete=True)(ch9.STATES)[:, 0]
    return group


@needs_numba
def test_mountain_car_sarsa_compiled_equals_uncompiled():
    kw = dict(runs=2, episodes=2, alpha=np.array([0.5, 0.3]) / 8, epsilon=[0.0, 0.1], seed=3,
              max_episode_steps=300, snapshot_episodes=[1])  # fmt: skip
    fast = run_mountain_car_sarsa(mountain_car_tiles(), backend="numba", **kw)
    slow = run_mountain_car_sarsa(mountain_car_tiles(), backend="python", **kw)
    np.testing.assert_array_equal(fast.lengths, slow.lengths)
    np.testing.assert_array_equal(fast.capped, slow.capped)
    np.testing.assert_array_equal(fast.w, slow.w)
    np.testing.assert_array_equal(fast.snapshots[1], slow.snapshots[1])
    np.testing.assert_array_equal(fast.returns, -fast.lengths)


@pytest.mark.slow
@needs_numba
def test_mountain_car_sarsa_has_the_batched_engines_statistics():
    """Mean steps over the first 5 episodes of 60 runs: the compiled loops and run_linear_sarsa
    agree within 4 standard errors of their difference."""
    kw = dict(runs=60, episodes=5, alpha=0.5 / 8, max_episode_steps=5000)
    fast = run_mountain_car_sarsa(mountain_car_tiles(), seed=1, **kw)
    ref = run_linear_sarsa(MountainCarBatch(), mountain_car_tiles(), seed=2, **kw)
    x, y = fast.lengths.mean(axis=1), ref.lengths.mean(axis=1)
    se = np.hypot(x.std(ddof=1), y.std(ddof=1)) / np.sqrt(60)
    assert abs(x.mean() - y.mean()) <= 4 * se, (x.mean(), y.mean(), se)


@needs_numba
def test_aggregated_td0_compiled_equals_uncompiled():
    mdp = ch9.walk()["mdp"]
    fast = run_aggregated_td0(mdp, _groups(), runs=2, episodes=4, alpha=0.1, seed=5)
    slow = run_aggregated_td0(mdp, _groups(), runs=2, episodes=4, alpha=0.1, seed=5,
                              backend="python")  # fmt: skip
    np.testing.assert_array_equal(fast["w"], slow["w"])
    np.testing.assert_array_equal(fast["visits"], slow["visits"])
    assert fast["w"][:, -1].tolist() == [0.0, 0.0]  # the terminal group is never updated


@needs_numba
def test_aggregated_td0_follows_its_expected_path_to_the_td_fixed_point():
    X, _, w_td = ch9._aggregation_truth(10)
    alpha, episodes = 2e-3, 3000
    res = run_aggregated_td0(ch9.walk()["mdp"], _groups(), runs=10, episodes=episodes,
                             alpha=alpha, seed=0)  # fmt: skip
    w = res["w"][:, :10]
    expected = ch9.mean_path(X, w_td, "td", alpha, episodes)
    assert np.max(np.abs(w.mean(axis=0) - expected)) <= spread(w), (w.mean(axis=0), expected)
    # visits of S_t follow the on-policy distribution (eq. 9.3) within 99.9% bands
    mu = res["visits"] / res["visits"].sum(axis=1, keepdims=True)
    assert abs(mu[:, 500].mean() - ch9.walk()["mu"][500]) <= spread(mu[:, 500], confidence=0.999)


def test_errors_name_the_problem():
    hashed = TileCoding([-1.2, -0.07], [0.5, 0.07], n_tilings=8, tiles_per_dim=8, size=512)
    with pytest.raises(TypeError, match="without hashing"):
        run_mountain_car_sarsa(hashed, runs=1, episodes=1, alpha=0.1)
    with pytest.raises(ValueError, match="backend"):
        run_mountain_car_sarsa(mountain_car_tiles(), runs=1, episodes=1, alpha=0.1, backend="c")
    with pytest.raises(ValueError, match="group"):
        run_aggregated_td0(ch9.walk()["mdp"], np.zeros(3), runs=1, episodes=1, alpha=0.1)


@needs_numba
def test_n_step_compiled_equals_uncompiled():
    kw = dict(runs=2, episodes=2, alpha=0.3 / 8, n=4, seed=2, max_episode_steps=250)
    fast = run_mountain_car_sarsa(mountain_car_tiles(), backend="numba", **kw)
    slow = run_mountain_car_sarsa(mountain_car_tiles(), backend="python", **kw)
    np.testing.assert_array_equal(fast.lengths, slow.lengths)
    np.testing.assert_array_equal(fast.w, slow.w)


@pytest.mark.slow
@needs_numba
def test_n_step_has_the_batched_engines_statistics():
    kw = dict(runs=60, episodes=5, alpha=0.4 / 8, n=8, max_episode_steps=5000)
    fast = run_mountain_car_sarsa(mountain_car_tiles(), seed=1, **kw)
    ref = run_linear_sarsa(MountainCarBatch(), mountain_car_tiles(), seed=2, **kw)
    x, y = fast.lengths.mean(axis=1), ref.lengths.mean(axis=1)
    se = np.hypot(x.std(ddof=1), y.std(ddof=1)) / np.sqrt(60)
    assert abs(x.mean() - y.mean()) <= 4 * se, (x.mean(), y.mean(), se)


@needs_numba
def test_sarsa_lambda_compiled_equals_uncompiled():
    for trace in ("replacing", "accumulating"):
        kw = dict(runs=2, episodes=2, alpha=0.6 / 8, lambda_=[0.92, 0.5], trace=trace, seed=4,
                  max_episode_steps=200)  # fmt: skip
        fast = run_mountain_car_sarsa(mountain_car_tiles(), backend="numba", **kw)
        slow = run_mountain_car_sarsa(mountain_car_tiles(), backend="python", **kw)
        np.testing.assert_array_equal(fast.lengths, slow.lengths)
        np.testing.assert_array_equal(fast.w, slow.w)


@pytest.mark.slow
@needs_numba
def test_sarsa_lambda_has_the_batched_engines_statistics():
    kw = dict(runs=100, episodes=10, alpha=0.4 / 8, lambda_=0.92, trace="replacing",
              max_episode_steps=5000)  # fmt: skip
    fast = run_mountain_car_sarsa(mountain_car_tiles(), seed=1, **kw)
    ref = run_linear_sarsa(MountainCarBatch(), mountain_car_tiles(), seed=2, **kw)
    x, y = fast.lengths.mean(axis=1), ref.lengths.mean(axis=1)
    se = np.hypot(x.std(ddof=1), y.std(ddof=1)) / np.sqrt(100)
    assert abs(x.mean() - y.mean()) <= 4 * se, (x.mean(), y.mean(), se)


def test_without_numba_the_figures_use_the_numpy_engines(monkeypatch):
    import rlcore.book.ch10 as ch10
    import rlcore.tabular.compiled as tc

    monkeypatch.setattr(ch10, "numba_available", lambda: False)
    res = ch10.mountain_car_sarsa(mountain_car_tiles(), runs=2, episodes=1, alpha=0.5 / 8,
                                  lambda_=0.9, max_episode_steps=100, seed=0)  # fmt: skip
    assert res.config["method"] == "Sarsa(lambda), replacing traces"  # run_linear_sarsa's
    monkeypatch.setattr(tc, "numba_available", lambda: False)
    out = tc.run_td_control("CliffWalking-v1", method="q_learning", alpha=0.5, episodes=2)
    assert out["backend"] == "numpy" and out["returns"].shape == (1, 2)
