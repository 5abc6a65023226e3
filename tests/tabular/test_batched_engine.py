"""The batched engine: identities between its learners, exact limits, envs and bookkeeping."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rlcore  # noqa: F401  (registers the rlcore/... env ids)
from rlcore.envs.random_walk import random_walk_true_values
from rlcore.stats import mean_ci
from rlcore.tabular import FiniteMDP, planning
from rlcore.tabular.batched import (
    as_batched_env,
    learner_names,
    make_learner,
    run_batched,
    sample_episodes,
)
from rlcore.tabular.batched_envs import ModelBatchEnv, SwitchingModelEnv

WALK = "rlcore/RandomWalk-v0"


def _walk_v(name: str, **settings) -> np.ndarray:
    return run_batched(name, WALK, runs=20, episodes=30, seed=7, **settings).learner.v


# -- "reduces to" identities (same seed: the same episodes, since the policy is fixed) --------
@pytest.mark.parametrize(
    "name, settings",
    [
        ("n_step_td", {"n": 1}),
        ("td_lambda", {"lambda_": 0.0}),
        ("true_online_td_lambda", {"lambda_": 0.0}),
    ],
)
def test_one_step_special_cases_equal_td0(name, settings):
    np.testing.assert_allclose(_walk_v("td0", alpha=0.2), _walk_v(name, alpha=0.2, **settings))


def test_offline_lambda_return_with_one_step_episodes_equals_td0():
    """With lambda = 0 the offline algorithm applies TD(0) targets of the episode's start
    values at its end; on one-step episodes (a coin flip for -1 or +1) that is TD(0)."""
    p = np.zeros((3, 1, 3))
    p[0, 0, 1:] = 0.5
    p[1:, 0, 1:] = np.eye(2)
    r = np.zeros((3, 1, 3))
    r[0, 0, 1:] = (-1.0, 1.0)
    mdp = FiniteMDP.from_arrays(
        p, r, terminal=np.array([False, True, True]), initial=np.array([1.0, 0.0, 0.0])
    )
    a = run_batched("td0", mdp, runs=5, episodes=20, seed=1, alpha=0.3).learner.v
    b = run_batched(
        "offline_lambda_return", mdp, runs=5, episodes=20, seed=1, alpha=0.3, lambda_=0.0
    ).learner.v
    np.testing.assert_allclose(a, b, atol=1e-12)
    assert np.all(a[:, 0] != 0.0)


def test_lambda_one_and_long_n_step_equal_every_visit_monte_carlo():
    mc = _walk_v("mc", alpha=0.05)
    np.testing.assert_allclose(_walk_v("offline_lambda_return", alpha=0.05, lambda_=1.0), mc)
    np.testing.assert_allclose(_walk_v("n_step_td", alpha=0.05, n=10_000), mc)


def test_an_alpha_array_sweeps_step_sizes_across_runs():
    """An (R,) alpha gives each run its own step size; equal entries equal a scalar alpha."""
    same = run_batched("td0", WALK, runs=4, episodes=10, seed=3, alpha=np.full(4, 0.2))
    scalar = run_batched("td0", WALK, runs=4, episodes=10, seed=3, alpha=0.2)
    np.testing.assert_array_equal(same.learner.v, scalar.learner.v)
    swept = run_batched(
        "td0", WALK, runs=4, episodes=10, seed=3, alpha=np.array([0.2, 0.2, 0.9, 0.9])
    )
    np.testing.assert_array_equal(swept.learner.v[:2], scalar.learner.v[:2])  # same stream
    assert not np.allclose(swept.learner.v[2:], scalar.learner.v[2:])
    with pytest.raises(ValueError, match="shape"):
        run_batched("td0", WALK, runs=3, episodes=1, alpha=np.full(4, 0.1))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        run_batched("td0", WALK, runs=4, episodes=1, alpha=np.array([0.1, 0.0, 0.2, 0.3]))


# -- batch updating: the solved limit equals the book's iterated procedure ----------------------
def _iterate_batch(states, rewards, next_states, terminated, v0, target, alpha=0.01, tol=1e-11):
    """Sutton & Barto §6.3: sum the increments of all stored steps, apply, repeat."""
    v = v0.copy()
    for _ in range(200_000):
        if target == "td":
            goal = rewards + np.where(terminated, 0.0, v[next_states])
        else:
            goal = rewards  # here: the returns of the steps
        inc = np.zeros_like(v)
        np.add.at(inc, states, alpha * (goal - v[states]))
        v += inc
        if np.abs(inc).sum() < tol:
            return v
    raise AssertionError("batch iteration did not converge")


@pytest.mark.parametrize("name", ["batch_td", "batch_mc"])
def test_batch_limits_equal_iterated_batch_updating(name):
    rng = np.random.default_rng(0)
    eps = sample_episodes(WALK, np.ones((7, 1)), 6, rng)
    learner = make_learner(name, as_batched_env(WALK), 1, initial_value=0.5)
    s_all, r_all, s2_all, term_all, g_all = [], [], [], [], []
    runs = np.array([0])
    for i in range(6):
        n = eps["lengths"][i]
        s, r = eps["states"][i, :n], eps["rewards"][i, :n]
        s2 = np.append(s[1:], 0 if r[-1] == 0 else 6)  # the walk ends at 0 (reward 0) or 6 (+1)
        term = np.arange(n) == n - 1
        learner.begin(runs, s[:1], rng)
        for t in range(n):
            step = rlcore.Transition(
                s[t : t + 1],
                np.zeros(1, int),
                r[t : t + 1],
                s2[t : t + 1],
                term[t : t + 1],
                np.zeros(1, bool),
            )
            learner.observe(runs, step, rng)
        learner.end(runs, rng)
        s_all.append(s), r_all.append(r), s2_all.append(s2), term_all.append(term)
        g_all.append(np.cumsum(r[::-1])[::-1])
    cat = [np.concatenate(x) for x in (s_all, r_all, s2_all, term_all, g_all)]
    v0 = np.full(7, 0.5)
    if name == "batch_td":
        expected = _iterate_batch(cat[0], cat[1], cat[2], cat[3], v0, "td")
    else:
        expected = _iterate_batch(cat[0], cat[4], cat[2], cat[3], v0, "mc")
    np.testing.assert_allclose(learner.v[0, 1:-1], expected[1:-1], atol=1e-8)


# -- fixed-policy sampling against exact values ---------------------------------------------------
def test_sampled_returns_average_to_the_exact_value():
    env = gym.make(WALK, n_states=19)
    rng = np.random.default_rng(2)
    eps = sample_episodes(env, np.ones((21, 1)), 20_000, rng)
    g = eps["rewards"].sum(axis=1)
    ci = mean_ci(g, confidence=0.999)
    true_start = random_walk_true_values(19)[10]
    assert ci.low <= true_start <= ci.high
    assert np.all(eps["lengths"] >= 10)  # 10 steps at least to leave a 19-state walk's centre


def test_step_mode_records_every_step():
    res = run_batched("q_learning", "CliffWalking-v1", runs=3, steps=3000, seed=0, alpha=0.5)
    assert res.step_rewards.shape == (3, 3000)
    for i in range(3):
        done = np.flatnonzero(res.step_done[i])
        n = len(done)
        assert res.episodes_completed[i] == n
        np.testing.assert_allclose(
            res.returns[i, :n].sum(), res.step_rewards[i, : done[-1] + 1].sum()
        )
        np.testing.assert_array_equal(res.lengths[i, :n], np.diff(np.append(-1, done)))


def test_switching_env_changes_model_after_each_runs_own_steps():
    # Two one-state models: stay with reward 0, then stay with reward 1.
    def one_state(reward):
        return FiniteMDP.from_arrays(np.ones((1, 1, 1)), np.array([[reward]]))

    env = SwitchingModelEnv([one_state(0.0), one_state(1.0)], [3])
    rng = np.random.default_rng(0)
    env.start(2, rng)
    runs = np.array([0, 1])
    env.reset(runs, rng)
    rewards = [
        env.step(runs[:1] if t < 2 else runs, np.zeros(1 if t < 2 else 2, int), rng)[1]
        for t in range(4)
    ]
    # run 0 switches after its 3rd step, run 1 (two steps behind) not yet.
    assert list(rewards[2]) == [0.0, 0.0]
    assert list(rewards[3]) == [1.0, 0.0]


def test_maze_envs_switch_at_the_books_step():
    env = as_batched_env(gym.make("rlcore/BlockingMaze-v0"))
    assert isinstance(env, SwitchingModelEnv)
    assert list(env.switch_steps) == [1000]


def test_maximization_bias_env_samples_gaussian_rewards_around_the_model_mean():
    env = as_batched_env("rlcore/MaximizationBias-v0")
    assert isinstance(env, ModelBatchEnv)
    assert env.action_mask[0].sum() == 2 and env.action_mask[1].sum() == 10
    rng = np.random.default_rng(0)
    n = 40_000
    env.start(n, rng)
    runs = np.arange(n)
    env.reset(runs, rng)
    env.step(runs, np.ones(n, int), rng)  # left: A -> B
    _, r, term = env.step(runs, rng.integers(0, 10, n), rng)
    assert term.all()
    assert abs(r.mean() + 0.1) < 4 / np.sqrt(n) and abs(r.std() - 1.0) < 0.02


def test_masked_learners_never_take_actions_a_state_does_not_offer():
    res = run_batched(
        "q_learning",
        "rlcore/MaximizationBias-v0",
        runs=50,
        episodes=30,
        seed=0,
        alpha=0.1,
        epsilon=1.0,
    )
    assert set(np.unique(res.lengths)) <= {1, 2}
    q = res.learner.q
    assert np.all(q[:, 0, 2:] == 0.0)  # actions 2..9 of A are never updated


# -- Dyna ------------------------------------------------------------------------------------
def test_dyna_q_values_are_the_optimal_values_of_its_learned_model():
    """With alpha = 1 in a deterministic maze, Dyna-Q's planning is asynchronous value
    iteration on the model it learned: Q must be q* of that model (pairs it never tried lead
    nowhere and stay 0), computed here by exact DP."""
    env = gym.make("rlcore/DynaMaze-v0")
    res = run_batched("dyna_q", env, runs=3, episodes=15, seed=0, alpha=1.0, planning_steps=20)
    learner = res.learner
    S, A = 54, 4
    for i in range(3):
        p = np.zeros((S + 1, A, S + 1))  # state S: an absorbing "unknown" sink
        r = np.zeros((S + 1, A, S + 1))
        for pair in range(S * A):
            s, a = divmod(pair, A)
            if learner.known[i, pair]:
                s2 = S if learner.model_term[i, pair] else learner.model_next[i, pair]
                p[s, a, s2] = 1.0
                r[s, a, s2] = learner.model_reward[i, pair]
            else:
                p[s, a, S] = 1.0
        p[S, :, S] = 1.0
        terminal = np.zeros(S + 1, bool)
        terminal[S] = True
        exact = planning.value_iteration(
            FiniteMDP.from_arrays(p, r, terminal=terminal), gamma=0.95, theta=1e-12
        ).q
        np.testing.assert_allclose(learner.q[i], exact[:S], atol=1e-6)
    assert np.all(res.lengths[:, -5:].mean(axis=1) < 25)  # near the 14-step optimum


def test_dyna_q_plus_with_kappa_zero_walks_like_dyna_q_until_the_first_reward():
    """Before any reward every value is 0, so both take the same random walk from the same
    stream (Dyna-Q+ plans untried actions too, as staying put with reward 0: no-ops then)."""
    a = run_batched("dyna_q", "rlcore/DynaMaze-v0", runs=6, episodes=1, seed=9, planning_steps=5)
    b = run_batched(
        "dyna_q_plus", "rlcore/DynaMaze-v0", runs=6, episodes=1, seed=9, planning_steps=5, kappa=0.0
    )
    np.testing.assert_array_equal(a.lengths, b.lengths)


def test_q_learning_converges_to_the_optimal_q_on_a_small_mdp():
    env = gym.make("FrozenLake-v1", is_slippery=False)
    exact = planning.value_iteration(env, gamma=0.9).q
    res = run_batched(
        "q_learning", env, runs=3, episodes=3000, seed=0, alpha=0.5, epsilon=1.0, gamma=0.9
    )
    reachable = exact.max(axis=1) > 0
    for q in res.learner.q:
        np.testing.assert_allclose(q[reachable], exact[reachable], atol=1e-3)


def test_registered_time_limits_cut_episodes_as_rlcore_run_does():
    """Baird's counterexample is continuing; its registration cuts episodes at 1000 steps."""
    res = run_batched("td0", "rlcore/Baird-v0", runs=2, episodes=2, seed=0, alpha=0.01)
    assert np.all(res.lengths == 1000) and res.config["max_episode_steps"] == 1000
    env = gym.make("rlcore/Baird-v0")
    history = rlcore.run(rlcore.make("agents.td0", env, alpha=0.01), env, episodes=2, seed=0)
    assert history.lengths == [1000, 1000]
    shorter = run_batched("td0", "rlcore/Baird-v0", runs=2, episodes=1, max_episode_steps=7)
    assert np.all(shorter.lengths == 7)


# -- validation ----------------------------------------------------------------------------------
def test_errors_teach():
    with pytest.raises(ValueError, match="did you mean|Did you mean"):
        run_batched("q_learnin", "CliffWalking-v1", runs=2, episodes=1)
    with pytest.raises(ValueError, match="exactly one budget"):
        run_batched("td0", WALK, runs=2, episodes=1, steps=3)
    with pytest.raises(TypeError, match="unknown keyword"):
        run_batched("td0", WALK, runs=2, episodes=1, epsilon=0.1)
    with pytest.raises(TypeError, match="finite model"):
        as_batched_env(gym.make("MountainCar-v0"))
    assert "q_learning" in learner_names() and "true_online_td_lambda" in learner_names()
