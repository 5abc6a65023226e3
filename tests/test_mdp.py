"""FiniteMDP: model conversion, Bellman pieces and batched sampling against the env itself."""

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlcore.tabular import FiniteMDP, random_mdp


def naive_q(P, v, gamma, S, A):
    q = np.zeros((S, A))
    for s in range(S):
        for a in range(A):
            for p, s2, r, done in P[s][a]:
                q[s, a] += p * (r + (0.0 if done else gamma * v[s2]))
    return q


@pytest.mark.parametrize("env_id", ["FrozenLake-v1", "CliffWalking-v1", "Taxi-v4"])
def test_from_env_matches_naive_backup(env_id):
    env = gym.make(env_id)
    mdp = FiniteMDP.from_env(env)
    S, A = mdp.n_states, mdp.n_actions
    v = np.random.default_rng(0).normal(size=S)
    np.testing.assert_allclose(mdp.q_from_v(v, 0.9), naive_q(env.unwrapped.P, v, 0.9, S, A))


@given(st.integers(2, 8), st.integers(1, 4), st.integers(0, 10_000))
def test_policy_matrices_match_dense(S, A, seed):
    rng = np.random.default_rng(seed)
    mdp = random_mdp(S, A, rng)
    pi = rng.dirichlet(np.ones(A), size=S)
    P_pi, r_pi = mdp.policy_matrices(pi)
    dense = mdp.transition_matrix()
    cont = np.zeros_like(dense)
    for k in range(len(mdp.prob)):
        row = np.searchsorted(mdp.indptr, k, side="right") - 1
        if not mdp.terminated[k]:
            cont[row // A, row % A, mdp.next_state[k]] += mdp.prob[k]
    np.testing.assert_allclose(P_pi.toarray(), np.einsum("sa,sat->st", pi, cont), atol=1e-12)
    np.testing.assert_allclose(r_pi, (pi * mdp.expected_reward).sum(1), atol=1e-12)
    np.testing.assert_allclose(dense.sum(-1), 1.0)


def test_from_arrays_round_trip():
    rng = np.random.default_rng(1)
    P = rng.dirichlet(np.ones(4), size=(4, 2))
    R = rng.normal(size=(4, 2))
    mdp = FiniteMDP.from_arrays(P, R, terminal=np.array([False, False, False, True]))
    np.testing.assert_allclose(mdp.transition_matrix(), P)
    np.testing.assert_allclose(mdp.expected_reward, R)
    v = np.ones(4)
    expected = R + 0.5 * P[:, :, :3].sum(-1)  # entering state 3 terminates
    np.testing.assert_allclose(mdp.q_from_v(v, 0.5), expected)


def test_sample_frequencies_match_probabilities():
    env = gym.make("FrozenLake-v1")  # slippery: three outcomes per (s, a)
    mdp = FiniteMDP.from_env(env)
    rng = np.random.default_rng(0)
    n = 30_000
    s = np.full(n, 6)
    a = np.full(n, 1)
    s2, r, done = mdp.sample(s, a, rng)
    expected = {}
    for p, nxt, _, _ in env.unwrapped.P[6][1]:
        expected[nxt] = expected.get(nxt, 0.0) + p
    for nxt, p in expected.items():
        freq = np.mean(s2 == nxt)
        assert abs(freq - p) < 4 * np.sqrt(p * (1 - p) / n)
    assert set(np.unique(s2)) == set(expected)


def test_sample_mixed_rows_stay_in_their_row():
    mdp = random_mdp(6, 3, np.random.default_rng(2))
    rng = np.random.default_rng(3)
    s = rng.integers(6, size=5000)
    a = rng.integers(3, size=5000)
    s2, _, _ = mdp.sample(s, a, rng)
    for si, ai, nxt in zip(s, a, s2):
        row = si * 3 + ai
        assert nxt in mdp.next_state[mdp.indptr[row] : mdp.indptr[row + 1]]


def test_bad_models_refused():
    with pytest.raises(ValueError, match="sum to"):
        FiniteMDP.from_P({0: {0: [(0.5, 0, 0.0, False)]}})
    with pytest.raises(ValueError, match="no entry for action"):
        FiniteMDP.from_P({0: {0: [(1.0, 0, 0.0, True)]}}, n_actions=2)
    with pytest.raises(TypeError, match="no finite model"):
        FiniteMDP.from_env(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="shape"):
        FiniteMDP.from_arrays(np.ones((2, 2)), np.zeros((2, 2)))
