"""Dynamic programming against ground truth: brute force over all deterministic policies, dense
linear solves, a naive loop over gymnasium's P, and the Bellman equations themselves."""

import functools
import itertools

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rlcore
from rlcore.tabular import (
    FiniteMDP,
    greedy_policy,
    policy_evaluation,
    policy_iteration,
    q_from_v,
    random_mdp,
    value_iteration,
)

mdps = st.builds(
    lambda s, a, seed: random_mdp(s, a, np.random.default_rng(seed)),
    st.integers(1, 7),
    st.integers(1, 4),
    st.integers(0, 2**32 - 1),
)
gammas = st.floats(0.0, 0.95)


def dense(mdp):
    """Dense (S, A, S) continuation probabilities and (S, A) expected rewards, from the raw
    outcome table (not through the sparse matrices the solvers use)."""
    S, A = mdp.n_states, mdp.n_actions
    P, R = np.zeros((S, A, S)), np.zeros((S, A))
    for row in range(S * A):
        s, a = divmod(row, A)
        for k in range(mdp.indptr[row], mdp.indptr[row + 1]):
            R[s, a] += mdp.prob[k] * mdp.reward[k]
            if not mdp.terminated[k]:
                P[s, a, mdp.next_state[k]] += mdp.prob[k]
    return P, R


def brute_force_v_star(mdp, gamma):
    """max over all A^S deterministic policies of their exactly solved values (dense solve)."""
    P, R = dense(mdp)
    S, A = R.shape
    best = np.full(S, -np.inf)
    for actions in itertools.product(range(A), repeat=S):
        idx = (np.arange(S), list(actions))
        v = np.linalg.solve(np.eye(S) - gamma * P[idx], R[idx])
        best = np.maximum(best, v)
    return best


@given(mdps, gammas, st.booleans())
def test_value_iteration_within_stated_bound_of_brute_force_optimum(mdp, gamma, in_place):
    if mdp.n_actions ** mdp.n_states > 3000:
        mdp = random_mdp(3, mdp.n_actions, np.random.default_rng(mdp.n_states))
    result = value_iteration(mdp, gamma, theta=1e-9, in_place=in_place)
    v_star = brute_force_v_star(mdp, gamma)
    assert result.error_bound <= gamma * 1e-9 / (1 - gamma) + 1e-15
    assert np.max(np.abs(result.v - v_star)) <= result.error_bound + 1e-10
    # Bellman optimality equation: |max_a q(v) - v| <= (1 + gamma) * bound.
    residual = np.max(np.abs(q_from_v(mdp, result.v, gamma).max(axis=1) - result.v))
    assert residual <= (1 + gamma) * result.error_bound + 1e-10
    # The greedy policy is optimal up to its ties: each tied action loses at most
    # tie_tol + 2 gamma bound per step, so at most that / (1 - gamma) in value.
    v_greedy = policy_evaluation(mdp, result.policy, gamma, method="exact").v
    loss = (result.tie_tol + 2 * gamma * result.error_bound) / (1 - gamma)
    assert np.max(v_star - v_greedy) <= loss + 1e-9


@given(mdps, gammas, st.booleans(), st.integers(0, 2**32 - 1))
def test_iterative_policy_evaluation_matches_dense_linear_solve(mdp, gamma, in_place, seed):
    pi = np.random.default_rng(seed).dirichlet(np.ones(mdp.n_actions), size=mdp.n_states)
    P, R = dense(mdp)
    v_true = np.linalg.solve(
        np.eye(mdp.n_states) - gamma * np.einsum("sa,sat->st", pi, P), (pi * R).sum(1)
    )
    iterative = policy_evaluation(mdp, pi, gamma, theta=1e-10, in_place=in_place)
    exact = policy_evaluation(mdp, pi, gamma, method="exact")
    assert np.max(np.abs(iterative.v - v_true)) <= iterative.error_bound + 1e-10
    assert np.max(np.abs(exact.v - v_true)) <= 1e-9
    assert exact.error_bound == 0.0 and exact.sweeps == 0


@given(mdps, gammas, st.sampled_from(["iterative", "exact"]))
def test_policy_iteration_and_value_iteration_agree(mdp, gamma, evaluation):
    vi = value_iteration(mdp, gamma, theta=1e-10)
    pi = policy_iteration(mdp, gamma, evaluation=evaluation, theta=1e-10)
    assert np.max(np.abs(pi.v - vi.v)) <= vi.error_bound + pi.error_bound + 1e-9
    # Stable: the final policy is greedy with respect to its own values.
    q = q_from_v(mdp, pi.v, gamma)
    assert np.max(q.max(axis=1) - pi.v) <= 2 * pi.tie_tol + 1e-9
    # The policy iteration stopped at is optimal: its exact value is v*.
    final = np.eye(mdp.n_actions)[pi.policy.argmax(axis=1)]
    v_final = policy_evaluation(mdp, final, gamma, method="exact").v
    assert np.max(np.abs(v_final - vi.v)) <= vi.error_bound + (2 * pi.tie_tol) / (1 - gamma) + 1e-9


@functools.cache
def naive_value_iteration(env_id, gamma, theta):
    """Synchronous value iteration with plain loops over gymnasium's P[s][a] lists."""
    base = gym.make(env_id).unwrapped
    P, n_states, n_actions = base.P, base.observation_space.n, base.action_space.n
    v = [0.0] * n_states
    while True:
        new = []
        for s in range(n_states):
            best = -float("inf")
            for a in range(n_actions):
                total = 0.0
                for p, s2, r, done in P[s][a]:
                    total += p * (r + (0.0 if done else gamma * v[s2]))
                best = max(best, total)
            new.append(best)
        delta = max(abs(x - y) for x, y in zip(new, v))
        v = new
        if delta < theta:
            return np.array(v)


@pytest.mark.parametrize(
    ("env_id", "gamma"),
    [("FrozenLake-v1", 1.0), ("FrozenLake-v1", 0.9), ("CliffWalking-v1", 0.95), ("Taxi-v4", 0.9)],
)
@pytest.mark.parametrize("in_place", [True, False])
def test_value_iteration_matches_naive_loops_on_gymnasium_envs(env_id, gamma, in_place):
    env = gym.make(env_id)
    base = env.unwrapped
    S, A = base.observation_space.n, base.action_space.n
    naive = naive_value_iteration(env_id, gamma, 1e-11)
    result = value_iteration(env, gamma, theta=1e-9, in_place=in_place)
    tol = 1e-6 if gamma == 1.0 else result.error_bound + gamma * 1e-11 / (1 - gamma) + 1e-12
    assert np.max(np.abs(result.v - naive)) <= tol
    # The naive greedy action is always among the result's optimal actions.
    q = np.array([[sum(p * (r + (0 if d else gamma * naive[s2])) for p, s2, r, d in base.P[s][a])
                   for a in range(A)] for s in range(S)])
    assert np.all(result.policy[np.arange(S), q.argmax(axis=1)] > 0)


def test_in_place_sweeps_match_a_naive_gauss_seidel_loop():
    env = gym.make("FrozenLake-v1")
    P, S, A, gamma = env.unwrapped.P, 16, 4, 0.9
    result = value_iteration(env, gamma, theta=1e-6, record_history=True)
    v = [0.0] * S
    for k in range(1, result.sweeps + 1):
        for s in range(S):  # v(s) updated in place, later states see it in the same sweep
            v[s] = max(sum(p * (r + (0 if d else gamma * v[s2])) for p, s2, r, d in P[s][a])
                       for a in range(A))
        np.testing.assert_allclose(result.history[k], v, atol=1e-12)
    assert len(result.history) == result.sweeps + 1 and not np.any(result.history[0])


def test_synchronous_history_is_repeated_bellman_backups():
    mdp = random_mdp(5, 3, np.random.default_rng(1))
    result = value_iteration(mdp, 0.8, in_place=False, record_history=True, v0=np.ones(5))
    v = np.ones(5)
    for k in range(1, 6):
        P, R = dense(mdp)
        v = (R + 0.8 * P @ v).max(axis=1)
        np.testing.assert_allclose(result.history[k], v, atol=1e-12)


def test_arrays_model_and_registry_names():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(4), size=(4, 2))  # (S, A, S)
    R = rng.normal(size=(4, 2))
    by_arrays = value_iteration((P, R), 0.9, theta=1e-10)
    by_mdp = rlcore.make("planning.value_iteration", FiniteMDP.from_arrays(P, R), 0.9, theta=1e-10)
    np.testing.assert_allclose(by_arrays.v, by_mdp.v)
    v = np.zeros(4)
    for _ in range(400):
        v = (R + 0.9 * P @ v).max(axis=1)
    np.testing.assert_allclose(by_arrays.v, v, atol=1e-8)
    assert rlcore.name_of(by_arrays) == "planning.dp_result"


def test_policy_iteration_does_not_flip_flop_between_equally_good_actions():
    # Two identical actions everywhere: every policy is optimal. The book's stable test may
    # loop forever on such ties (Exercise 4.4); ours stops after one evaluation.
    P = np.tile(np.random.default_rng(0).dirichlet(np.ones(3), size=(3, 1)), (1, 2, 1))
    R = np.tile(np.array([[1.0], [0.0], [2.0]]), (1, 2))
    for start in ([0, 1, 0], [1, 1, 1], None):
        result = policy_iteration((P, R), 0.9, policy=None if start is None else np.array(start))
        assert result.improvements == 0
        np.testing.assert_allclose(result.policy, 0.5)


def test_greedy_policy_splits_ties_within_tolerance():
    q = np.array([[1.0, 1.0 - 1e-12, 0.0], [0.0, 2.0, 1.5]])
    np.testing.assert_allclose(greedy_policy(q), [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(greedy_policy(q, tie_tol=0.6)[1], [0.0, 0.5, 0.5])


def test_results_are_read_only():
    result = value_iteration(random_mdp(3, 2, np.random.default_rng(0)), 0.5)
    with pytest.raises(ValueError):
        result.v[0] = 1.0


def test_gamma_one_with_an_improper_policy_is_an_error():
    # One state that loops on itself with reward -1 and never terminates.
    P, R = np.ones((1, 1, 1)), -np.ones((1, 1))
    with pytest.raises(RuntimeError, match="proper policy"):
        policy_evaluation((P, R), np.array([0]), 1.0, max_sweeps=50)
    with pytest.raises(ValueError, match="proper policy"):
        policy_evaluation((P, R), np.array([0]), 1.0, method="exact")
    with pytest.raises(RuntimeError, match="proper policy"):
        value_iteration((P, R), 1.0, max_sweeps=50)
    with pytest.raises(RuntimeError, match="max_sweeps"):
        value_iteration((P, R), 0.999, max_sweeps=50)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"gamma": -0.1}, ValueError, "gamma"),
        ({"gamma": 1.5}, ValueError, "gamma"),
        ({"theta": 0.0}, ValueError, "theta"),
        ({"theta": -1e-3}, ValueError, "theta"),
        ({"max_sweeps": 0}, ValueError, "max_sweeps"),
        ({"policy": np.full((4, 3), 1 / 3)}, ValueError, "shape"),
        ({"policy": np.full((4, 2), 0.4)}, ValueError, "sums to"),
        ({"policy": np.array([[1.5, -0.5]] * 4)}, ValueError, "non-negative"),
        ({"policy": np.array([0, 1, 2, 0])}, ValueError, "outside"),
        ({"method": "magic"}, ValueError, "method"),
        ({"v0": np.zeros(3)}, ValueError, "v0"),
        ({"tie_tol": -1.0}, ValueError, "tie_tol"),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, error, match):
    mdp = random_mdp(4, 2, np.random.default_rng(0))
    args = {"gamma": 0.9, "policy": np.full((4, 2), 0.5)} | kwargs
    with pytest.raises(error, match=match):
        policy_evaluation(mdp, args.pop("policy"), args.pop("gamma"), **args)


def test_env_without_finite_model_and_other_models_are_rejected():
    with pytest.raises(TypeError, match="finite model"):
        value_iteration(gym.make("CartPole-v1"), 0.9)
    with pytest.raises(TypeError, match="finite model"):
        value_iteration("FrozenLake-v1", 0.9)
    with pytest.raises(ValueError, match="evaluation"):
        policy_iteration(random_mdp(2, 2, np.random.default_rng(0)), 0.9, evaluation="magic")
