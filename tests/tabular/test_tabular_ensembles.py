"""Tabular ensembles: Maxmin n=1 is Q-learning bit for bit, the maximization-bias ordering,
bootstrapped Q explores a chain deeply, checkpoints, determinism across processes, bad input."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rlcore.envs._finite import FiniteModelEnv
from rlcore.tabular.batched import run_batched


class RightChainEnv(FiniteModelEnv):
    """States 0..n-1 in a row, start 0, episodes cut after n steps (pass max_episode_steps=n).

    In each state one action (drawn per state) moves right at a cost of 0.01 / n, the other moves
    left for free; moving right from state n - 1 ends the episode with +1. Only always-right
    finds the reward, as in Deep Sea: epsilon-greedy learns that right costs and stays near 0."""

    def __init__(self, n=10, seed=0):
        right = np.random.default_rng(seed).integers(0, 2, size=n)
        P = {}
        for s in range(n):
            last = s == n - 1
            P[s] = {
                int(right[s]): [
                    (1.0, n if last else s + 1, (1.0 if last else 0.0) - 0.01 / n, last)
                ],
                1 - int(right[s]): [(1.0, max(s - 1, 0), 0.0, False)],
            }
        P[n] = {0: [(1.0, n, 0.0, True)], 1: [(1.0, n, 0.0, True)]}
        isd = np.zeros(n + 1)
        isd[0] = 1.0
        super().__init__(P, isd)


@pytest.mark.parametrize("name", ["agents.maxmin_q_learning", "agents.ensemble_q_learning"])
def test_one_member_is_q_learning_bit_for_bit(name):
    settings = {"alpha": 0.3, "epsilon": 0.2, "gamma": 0.9}
    runs = {}
    for agent_name, extra in (("agents.q_learning", {}), (name, {"n": 1})):
        agent = rlcore.make(agent_name, gym.make("CliffWalking-v1"), seed=3, **settings, **extra)
        history = rlcore.run(agent, "CliffWalking-v1", episodes=60, seed=3)
        runs[agent_name] = (history.returns, history.lengths, agent.q)
    q_ret, q_len, q_table = runs["agents.q_learning"]
    ret, length, table = runs[name]
    assert ret == q_ret and length == q_len
    np.testing.assert_array_equal(table, q_table)


def test_maxmin_members_and_reduction():
    agent = rlcore.make("agents.maxmin_q_learning", gym.make("CliffWalking-v1"), n=3, seed=0)
    rlcore.run(agent, "CliffWalking-v1", episodes=20, seed=0)
    members = agent.q_members
    assert members.shape == (3, 48, 4)
    np.testing.assert_array_equal(agent.q, members.min(axis=0))
    assert not np.array_equal(members[0], members[1])  # one member learns per step
    ens = rlcore.make("agents.ensemble_q_learning", gym.make("CliffWalking-v1"), n=3, seed=0)
    rlcore.run(ens, "CliffWalking-v1", episodes=20, seed=0)
    np.testing.assert_allclose(ens.q, ens.q_members.mean(axis=0))


def test_batched_maxmin_with_one_member_is_batched_q_learning():
    common = dict(runs=50, episodes=30, seed=7, alpha=0.1, epsilon=0.1)
    q = run_batched("q_learning", "rlcore/MaximizationBias-v0", **common)
    m = run_batched("maxmin_q_learning", "rlcore/MaximizationBias-v0", n=1, **common)
    np.testing.assert_array_equal(q.lengths, m.lengths)
    np.testing.assert_array_equal(q.returns, m.returns)
    np.testing.assert_array_equal(q.learner.q, m.learner.q)


def test_maxmin_goes_left_less_than_q_learning_on_the_max_bias_mdp():
    left = {}
    for n in (1, 4):
        res = run_batched(
            "maxmin_q_learning",
            "rlcore/MaximizationBias-v0",
            runs=400,
            episodes=25,
            seed=1,
            n=n,
            alpha=0.1,
            epsilon=0.1,
        )
        left[n] = (res.lengths[:, 9:20] == 2).mean()
    assert left[4] < left[1] - 0.1, left


def _deep_chain_success(name, episodes=300, seed=0, **kwargs):
    env = RightChainEnv(10)
    agent = rlcore.make(name, env, seed=seed, **kwargs)
    history = rlcore.run(agent, env, episodes=episodes, seed=seed, max_episode_steps=10)
    return np.asarray(history.returns) > 0.5  # found the far reward


def test_bootstrapped_q_explores_a_chain_of_length_10_where_epsilon_greedy_does_not():
    boot = _deep_chain_success("agents.bootstrapped_q_learning")
    assert boot.any() and boot[-100:].mean() > 0.5, boot.sum()
    for seed in range(3):
        eps = _deep_chain_success("agents.q_learning", seed=seed, epsilon=0.1, alpha=0.5)
        assert eps.sum() == 0


def test_bootstrapped_members_masks_and_evaluation():
    env = RightChainEnv(6)
    agent = rlcore.make("agents.bootstrapped_q_learning", env, n=5, p=0.5, seed=0)
    assert np.all(agent.q_members == 0)  # the priors come with the first episode
    agent.reset()
    before = agent.q_members
    assert before.shape == (5, 7, 2) and not np.array_equal(before[0], before[1])  # priors
    rlcore.run(agent, env, episodes=30, seed=0, max_episode_steps=6)
    after = agent.q_members
    changed = (after != before).sum(axis=(1, 2))
    assert changed.min() > 0  # every member learned something, not from every transition
    no_prior = rlcore.make("agents.bootstrapped_q_learning", env, n=3, prior_scale=0.0, seed=0)
    assert np.all(no_prior.q_members == 0)
    vote = rlcore.make("agents.bootstrapped_q_learning", env, evaluation="vote", seed=0)
    rlcore.run(vote, env, episodes=100, seed=0, max_episode_steps=6)
    greedy = [vote.act(s) for s in range(6)]
    members = vote.q_members.argmax(axis=2)[:, :6]  # (n, 6), no ties with random priors
    majority = [np.bincount(members[:, s], minlength=2).argmax() for s in range(6)]
    assert greedy == majority


@pytest.mark.parametrize(
    "name",
    ["agents.maxmin_q_learning", "agents.ensemble_q_learning", "agents.bootstrapped_q_learning"],
)
def test_checkpoint_roundtrip(name, tmp_path):
    env = RightChainEnv(5)
    agent = rlcore.make(name, env, n=3, seed=0)
    rlcore.run(agent, env, episodes=10, seed=0, max_episode_steps=5)
    agent.save(tmp_path)
    loaded = rlcore.load(tmp_path)
    np.testing.assert_array_equal(loaded.q_members, agent.q_members)
    assert loaded.config == agent.config


CODE = """
import hashlib, gymnasium as gym, numpy as np, rlcore
for name in ("agents.maxmin_q_learning", "agents.ensemble_q_learning",
             "agents.bootstrapped_q_learning"):
    agent = rlcore.make(name, gym.make("CliffWalking-v1"), n=3, seed=5)
    h = rlcore.run(agent, "CliffWalking-v1", episodes=15, seed=5)
    data = agent.q_members.tobytes() + np.asarray(h.returns).tobytes()
    print(name, hashlib.sha256(data).hexdigest())
"""


def test_same_seed_same_numbers_across_processes():
    outs = [
        subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()
        for _ in range(2)
    ]
    assert outs[0] == outs[1] and len(outs[0]) == 3


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("agents.maxmin_q_learning", {"n": 0}, r"n=0 is outside \[1, inf\].*n=1 is Q-learning"),
        ("agents.ensemble_q_learning", {"alpha": 0.0}, r"alpha=0.0 is outside \(0, 1\]"),
        ("agents.bootstrapped_q_learning", {"p": 0.0}, r"p=0.0 is outside \(0, 1\]"),
        ("agents.bootstrapped_q_learning", {"p": 1.2}, r"p=1.2 is outside \(0, 1\]"),
        ("agents.bootstrapped_q_learning", {"prior_scale": -1.0}, r"prior_scale=-1.0 is outside"),
        ("agents.bootstrapped_q_learning", {"evaluation": "max"}, r"evaluation='max' is not one"),
    ],
)
def test_bad_settings_are_refused(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rlcore.make(name, RightChainEnv(3), **kwargs)
