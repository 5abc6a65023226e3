"""Off-policy linear methods: the expected updates against closed forms, fixed points on random
off-policy problems, Baird's counterexample on short budgets (semi-gradient TD diverges, TDC does
not), broadcasting, and the agents' bookkeeping (emphasis, coverage, non-finite values)."""

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rlcore
from rlcore.approximation import objectives
from rlcore.approximation.features import MatrixFeatures
from rlcore.approximation.gradient_td import (
    emphasis,
    emphatic_td_direction,
    gtd2_direction,
    off_policy_td_direction,
    tdc_direction,
)
from rlcore.envs.baird import (
    baird_behavior_policy,
    baird_features,
    baird_initial_weights,
    baird_target_policy,
)
from rlcore.returns import importance_ratio
from rlcore.tabular import FiniteMDP
from rlcore.tabular.mdp import random_mdp
from rlcore.types import Transition


def problem(mdp, behavior, target, X, gamma):
    """Everything an expected update needs: one row per model outcome."""
    mu = objectives.on_policy_distribution(mdp, behavior)
    P, r = objectives.policy_model(mdp, target)
    T = objectives.model_transitions(mdp, behavior, mu)
    rho = importance_ratio(target[T["s"], T["a"]], behavior[T["s"], T["a"]])
    rows = (X[T["s"]], T["r"], np.where(T["terminated"], 0.0, gamma), X[T["s_next"]], rho)
    return mu, P, r, T["prob"], rows


def expected(direction, prob):
    return np.sum(prob[:, None] * direction, axis=0)


def random_off_policy(seed, gamma=0.9):
    rng = np.random.default_rng(seed)
    mdp = random_mdp(6, 2, rng, terminal_prob=0.0)
    b = rng.dirichlet(np.ones(2), size=6)
    pi = rng.dirichlet(np.ones(2), size=6)
    X = rng.normal(size=(6, 3))
    return mdp, b, pi, X, gamma


def baird():
    mdp = FiniteMDP.from_env(gym.make("rlcore/Baird-v0"))
    return mdp, baird_behavior_policy(), baird_target_policy(), baird_features(), 0.99


@pytest.mark.parametrize("make", [baird, lambda: random_off_policy(0)])
def test_expected_off_policy_td_update_is_semi_gradient_dp(make):
    """sum over (s, a, s') of mu b p rho delta x = X^T D (r_pi + gamma P_pi X w - X w), the
    semi-gradient DP update (eq. 11.9)."""
    mdp, b, pi, X, gamma = make()
    mu, P, r, prob, rows = problem(mdp, b, pi, X, gamma)
    w = np.random.default_rng(1).normal(size=X.shape[1])
    direction, _ = off_policy_td_direction(w, *rows)
    np.testing.assert_allclose(
        expected(direction, prob), X.T @ (mu * (r + gamma * P @ X @ w - X @ w)), atol=1e-12
    )


def test_baird_semi_gradient_dp_diverges_as_its_iteration_matrix_predicts():
    mdp, b, pi, X, gamma = baird()
    mu, P, r, prob, rows = problem(mdp, b, pi, X, gamma)
    alpha = 0.01
    M = np.eye(8) + alpha * X.T @ (mu[:, None] * (gamma * P @ X - X))  # rewards are 0: linear
    assert np.max(np.abs(np.linalg.eigvals(M))) > 1.0
    w = baird_initial_weights()
    for _ in range(1000):
        w = w + alpha * expected(off_policy_td_direction(w, *rows)[0], prob)
    w_power = np.linalg.matrix_power(M, 1000) @ baird_initial_weights()
    np.testing.assert_allclose(w, w_power, rtol=1e-9)
    assert np.linalg.norm(w) > 20 * np.linalg.norm(baird_initial_weights())


def baird_agent(name, seed, steps=1000, **config):
    env = gym.make("rlcore/Baird-v0")
    agent = rlcore.make(
        name,
        env,
        features=MatrixFeatures(baird_features()),
        target=baird_target_policy(),
        behavior=baird_behavior_policy(),
        **config,
    )
    agent.w = baird_initial_weights()
    rlcore.run(agent, env, steps=steps, seed=seed)
    return agent


def test_baird_off_policy_td_diverges_and_tdc_does_not_on_1000_steps():
    mdp, b, pi, X, gamma = baird()
    mu, P, r, _, _ = problem(mdp, b, pi, X, gamma)
    w0 = baird_initial_weights()
    for seed in range(3):
        td = baird_agent("agents.off_policy_td", seed, alpha=0.01, gamma=0.99)
        assert np.linalg.norm(td.w) > 10 * np.linalg.norm(w0)
        tdc = baird_agent("agents.tdc", seed, alpha=0.005, beta=0.05, gamma=0.99)
        assert np.max(np.abs(tdc.w)) < 15
        pbe0 = objectives.projected_bellman_error(w0, X, mu, P, r, gamma)
        pbe = objectives.projected_bellman_error(tdc.w, X, mu, P, r, gamma)
        assert np.sqrt(pbe) < 0.1 * np.sqrt(pbe0)


@pytest.mark.parametrize("seed", [0, 2])
def test_expected_tdc_and_gtd2_reach_the_off_policy_td_fixed_point(seed):
    mdp, b, pi, X, gamma = random_off_policy(seed)
    mu, P, r, prob, rows = problem(mdp, b, pi, X, gamma)
    w_td = objectives.td_fixed_point(X, mu, P, r, gamma)
    for direction in (tdc_direction, gtd2_direction):
        w, v = np.zeros(3), np.zeros(3)
        for _ in range(5000):
            dw, dv, _ = direction(w, v, *rows)
            w, v = w + 0.1 * expected(dw, prob), v + 0.4 * expected(dv, prob)
        np.testing.assert_allclose(w, w_td, atol=1e-6, err_msg=direction.__name__)


@pytest.mark.parametrize("seed", [0, 1])
def test_expected_emphatic_td_reaches_the_emphatic_fixed_point(seed):
    mdp, b, pi, X, gamma = random_off_policy(seed)
    mu, P, r, prob, rows = problem(mdp, b, pi, X, gamma)
    f = np.linalg.solve(np.eye(6) - gamma * P.T, mu)  # follow-on weighting, interest 1
    T = objectives.model_transitions(mdp, b, mu)
    m = (f / mu)[T["s"]]
    w = np.zeros(3)
    for _ in range(5000):
        w = w + 0.05 * expected(emphatic_td_direction(w, *rows, m)[0], prob)
    F = np.diag(f)
    w_etd = np.linalg.solve(X.T @ F @ (np.eye(6) - gamma * P) @ X, X.T @ F @ r)
    np.testing.assert_allclose(w, w_etd, atol=1e-6)


@given(st.integers(0, 2**31))
def test_directions_broadcast_over_a_batch(seed):
    rng = np.random.default_rng(seed)
    B, d = 4, 5
    w, v, x_tm1, x_t = (rng.normal(size=(B, d)) for _ in range(4))
    r_t, discount_t = rng.normal(size=B), rng.uniform(size=B)
    rho, m = rng.uniform(0, 3, B), rng.uniform(1, 2, B)
    batch = [
        off_policy_td_direction(w, x_tm1, r_t, discount_t, x_t, rho),
        tdc_direction(w, v, x_tm1, r_t, discount_t, x_t, rho),
        gtd2_direction(w, v, x_tm1, r_t, discount_t, x_t, rho),
        emphatic_td_direction(w, x_tm1, r_t, discount_t, x_t, rho, m),
    ]
    for i in range(B):
        single = [
            off_policy_td_direction(w[i], x_tm1[i], r_t[i], discount_t[i], x_t[i], rho[i]),
            tdc_direction(w[i], v[i], x_tm1[i], r_t[i], discount_t[i], x_t[i], rho[i]),
            gtd2_direction(w[i], v[i], x_tm1[i], r_t[i], discount_t[i], x_t[i], rho[i]),
            emphatic_td_direction(w[i], x_tm1[i], r_t[i], discount_t[i], x_t[i], rho[i], m[i]),
        ]
        for out_b, out_s in zip(batch, single):
            for a, s in zip(out_b, out_s):
                np.testing.assert_allclose(a[i], s, atol=1e-12)


def test_emphatic_agent_follows_the_emphasis_recursion():
    env = gym.make("rlcore/Baird-v0")
    b, pi = baird_behavior_policy(), baird_target_policy()
    agent = rlcore.make(
        "agents.emphatic_td", env, MatrixFeatures(baird_features()), target=pi, behavior=b
    )
    rng = np.random.default_rng(0)
    s, m, rho_prev = 0, 0.0, 0.0
    for _ in range(50):
        a = int(rng.random() < 1 / 7)
        s2 = 6 if a == 1 else int(rng.integers(6))
        agent.observe(Transition(s, a, 0.0, s2, False, False))
        m = 0.99 * rho_prev * m + 1.0
        rho_prev = pi[s, a] / b[s, a]
        s = s2
    assert agent.m == pytest.approx(m, rel=1e-12)
    assert float(emphasis(2.0, 7.0, 0.99, 1.0)) == pytest.approx(0.99 * 7.0 * 2.0 + 1.0)


def test_coverage_and_non_finite_values_are_refused():
    env = gym.make("rlcore/Baird-v0")
    greedy_dashed = np.tile([1.0, 0.0], (7, 1))
    with pytest.raises(ValueError, match="coverage"):
        rlcore.make("agents.tdc", env, target=baird_target_policy(), behavior=greedy_dashed)
    agent = rlcore.make(
        "agents.off_policy_td", env, target=baird_target_policy(), behavior=baird_behavior_policy()
    )
    with pytest.raises(FloatingPointError, match="at step 1 the TD error delta went non-finite"):
        agent.observe(Transition(0, 1, float("inf"), 6, False, False))
