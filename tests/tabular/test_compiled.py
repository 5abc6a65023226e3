"""The compiled per-run TD-control loops (``rlcore.tabular.compiled.run_td_control``, issue 19
item 3): the compiled loop equals the same loop uncompiled bit for bit, and the combined call
(every run its own method and step size) has the statistics of the batched engine run one method
at a time, on a deterministic env, a stochastic env with a time limit and a masked env.
"""

import gymnasium as gym
import numpy as np
import pytest

import rlcore.envs  # noqa: F401
from rlcore.tabular import FiniteMDP
from rlcore.tabular.batched import as_batched_env
from rlcore.tabular.batched_envs import ModelBatchEnv
from rlcore.tabular.compiled import METHODS, numba_available, run_td_control

needs_numba = pytest.mark.skipif(not numba_available(), reason="numba (the fast extra) missing")


def _combined(runs_per_method, alpha):
    return np.repeat(METHODS, runs_per_method), np.full(3 * runs_per_method, alpha)


def test_uncompiled_loop_is_deterministic_and_matches_the_definition():
    """Same seed, same numbers; one Sarsa episode at alpha 1 from Q = 0 on the cliff updates
    exactly the visited pairs, so the second episode's return reflects the first's penalties."""
    method, alpha = _combined(2, 0.5)
    a = run_td_control("CliffWalking-v1", method=method, alpha=alpha, episodes=3, seed=4,
                       backend="python")  # fmt: skip
    b = run_td_control("CliffWalking-v1", method=method, alpha=alpha, episodes=3, seed=4,
                       backend="python")  # fmt: skip
    np.testing.assert_array_equal(a["returns"], b["returns"])
    # every step costs -1 and a fall -100 (it does not end the episode): returns are
    # -(length) - 99 * falls, so return + length is a multiple of -99
    assert np.all(np.mod(-(a["returns"] + a["lengths"]), 99) == 0)
    assert a["backend"] == "python" and a["returns"].shape == (6, 3)


@needs_numba
def test_compiled_equals_uncompiled_bit_for_bit():
    method = np.array(["sarsa", "q_learning", "expected_sarsa", "sarsa"])
    alpha = np.array([0.1, 0.5, 1.0, 0.9])
    kw = dict(method=method, alpha=alpha, episodes=5, seed=7, epsilon=0.2)
    for env in ("CliffWalking-v1", "FrozenLake-v1"):  # deterministic; stochastic + time limit
        fast = run_td_control(env, backend="numba", **kw)
        slow = run_td_control(env, backend="python", **kw)
        np.testing.assert_array_equal(fast["returns"], slow["returns"])
        np.testing.assert_array_equal(fast["lengths"], slow["lengths"])


def _agree(env, episodes, runs, alpha, epsilon=0.1, z=4.0):
    """Per method, the mean return per episode (over runs, pooled over episodes) of the combined
    compiled call and of the batched engine (one call per method) agree within z standard
    errors of their difference."""
    method, step = _combined(runs, alpha)
    fast = run_td_control(env, method=method, alpha=step, episodes=episodes, seed=1,
                          epsilon=epsilon, backend="numba")  # fmt: skip
    ref = run_td_control(env, method=method, alpha=step, episodes=episodes, seed=2,
                         epsilon=epsilon, backend="numpy")  # fmt: skip
    assert ref["backend"] == "numpy"
    for k, name in enumerate(METHODS):
        x = fast["returns"][k * runs : (k + 1) * runs].mean(axis=1)
        y = ref["returns"][k * runs : (k + 1) * runs].mean(axis=1)
        se = np.hypot(x.std(ddof=1), y.std(ddof=1)) / np.sqrt(runs)
        assert abs(x.mean() - y.mean()) <= z * se + 1e-12, (env, name, x.mean(), y.mean(), se)


@needs_numba
def test_same_statistics_as_the_batched_engine_on_the_cliff():
    _agree("CliffWalking-v1", episodes=20, runs=200, alpha=0.5)


@pytest.mark.slow
@needs_numba
def test_same_statistics_on_a_stochastic_env_with_a_time_limit():
    # FrozenLake is slippery (3 outcomes per action) and cut at 100 steps (bootstrapping)
    _agree("FrozenLake-v1", episodes=200, runs=200, alpha=0.3, epsilon=0.3)


@needs_numba
def test_same_statistics_with_an_action_mask():
    """The maximization-bias MDP without its reward noise: state A offers 2 of the 10 actions;
    the share of episodes that go left (2 steps) is the statistic compared."""
    noisy = as_batched_env("rlcore/MaximizationBias-v0")
    env = ModelBatchEnv(noisy.mdp, action_mask=noisy.action_mask)
    method, step = _combined(2000, 0.1)
    kw = dict(method=method, alpha=step, episodes=20, epsilon=0.1)
    fast = run_td_control(env, seed=1, backend="numba", **kw)
    ref = run_td_control(env, seed=2, backend="numpy", **kw)
    for k in range(3):
        x = (fast["lengths"][k * 2000 : (k + 1) * 2000] == 2).mean(axis=1)
        y = (ref["lengths"][k * 2000 : (k + 1) * 2000] == 2).mean(axis=1)
        se = np.hypot(x.std(ddof=1), y.std(ddof=1)) / np.sqrt(2000)
        assert abs(x.mean() - y.mean()) <= 4 * se, (METHODS[k], x.mean(), y.mean())
    # the mask is obeyed: from A only left (1 step to the end) or right (2 steps) exist
    assert set(np.unique(fast["lengths"])) <= {1, 2}


@pytest.mark.slow
@needs_numba
def test_expected_sarsa_and_q_learning_reach_their_dp_limits():
    """Long runs: the mean return of the last episodes is the value of the epsilon-greedy
    policy at the DP fixed points (Figure 6.3's asymptotic checks, smaller)."""
    from rlcore.book.ch6 import _cliff_ground_truth

    v_q, v_es = _cliff_ground_truth(0.1)
    res = run_td_control("CliffWalking-v1", method=["expected_sarsa"] * 4 + ["q_learning"] * 4,
                         alpha=0.5, episodes=6000, seed=0)  # fmt: skip
    late = res["returns"][:, 3000:].mean(axis=1)
    assert abs(late[:4].mean() - v_es) < 1.0, (late[:4], v_es)
    assert abs(late[4:].mean() - v_q) < 3.0, (late[4:], v_q)


def test_errors_name_the_value_and_the_fix():
    with pytest.raises(ValueError, match="method"):
        run_td_control("CliffWalking-v1", method="sarsaa", alpha=0.5, episodes=1)
    with pytest.raises(ValueError, match="one of each per run"):
        run_td_control("CliffWalking-v1", method=["sarsa"] * 3, alpha=[0.1, 0.2], episodes=1)
    with pytest.raises(ValueError, match="reward noise"):
        run_td_control("rlcore/MaximizationBias-v0", method="sarsa", alpha=0.1, episodes=1)
    with pytest.raises(ValueError, match="backend"):
        run_td_control("CliffWalking-v1", method="sarsa", alpha=0.1, episodes=1, backend="gpu")
    with pytest.raises(ValueError, match="alpha"):
        run_td_control("CliffWalking-v1", method="sarsa", alpha=1.5, episodes=1)


def test_finite_mdp_input_and_single_method_name():
    mdp = FiniteMDP.from_env(gym.make("CliffWalking-v1").unwrapped)
    res = run_td_control(mdp, method="q_learning", alpha=[0.5, 0.5], episodes=2, seed=0,
                         backend="python")  # fmt: skip
    assert res["returns"].shape == (2, 2) and np.all(res["lengths"] >= 13)
