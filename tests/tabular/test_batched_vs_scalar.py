"""Differential tests: the batched engine against the scalar agents run through ``rlcore.run``.

1. Exactness. With epsilon = 0, tie-free initial values and a deterministic env, a batched
   control learner and the scalar agent take the same actions, so their Q tables must agree
   to the last bit after many episodes. Prediction learners are fed the very transitions a
   scalar agent saw and must end with the same V.
2. Statistics, on figure settings: the mean learning curves of R batched runs and of separate
   scalar runs lie within each other's confidence intervals (``rlcore.stats.mean_ci``), and a
   negative control (Sarsa against Q-learning) shows the comparison can fail.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rlcore.envs.random_walk import random_walk_true_values
from rlcore.stats import mean_ci
from rlcore.tabular.batched import as_batched_env, make_learner, run_batched


def _tie_free_q(n_states: int, n_actions: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 0.0, (n_states, n_actions))


@pytest.mark.parametrize("name", ["q_learning", "sarsa", "expected_sarsa"])
def test_greedy_control_on_a_deterministic_env_is_bit_identical(name):
    env = gym.make("CliffWalking-v1")
    q0 = _tie_free_q(48, 4, seed=1)
    agent = rlcore.make(f"agents.{name}", env, alpha=0.5, epsilon=0.0)
    agent.q = q0
    history = rlcore.run(agent, env, episodes=30, seed=0, max_episode_steps=300)

    runs = 3
    learner = make_learner(name, as_batched_env(env), runs, alpha=0.5, epsilon=0.0)
    learner.values.qa[:] = np.moveaxis(q0, -1, 0)[:, None, :]  # every run starts from q0
    result = run_batched(learner, env, runs=runs, episodes=30, seed=5, max_episode_steps=300)

    for i in range(runs):
        np.testing.assert_array_equal(result.learner.q[i], agent.q)
        np.testing.assert_array_equal(result.returns[i], history.returns)
        np.testing.assert_array_equal(result.lengths[i], history.lengths)


class _Recorder(rlcore.Callback):
    def __init__(self):
        self.steps = []

    def on_step(self, step, transition, metrics):
        self.steps.append(transition)


def _replay(learner, transitions) -> None:
    """Feed one run's transitions to a batched learner with R = 1."""
    runs = np.array([0])
    rng = np.random.default_rng(0)  # prediction updates use no randomness
    start = True
    for tr in transitions:
        if start:
            learner.begin(runs, np.array([tr.obs]), rng)
            start = False
        step = rlcore.Transition(
            np.array([tr.obs]),
            np.array([tr.action]),
            np.array([float(tr.reward)]),
            np.array([tr.next_obs]),
            np.array([bool(tr.terminated)]),
            np.array([bool(tr.truncated)]),
        )
        learner.observe(runs, step, rng)
        if tr.terminated or tr.truncated:
            learner.end(runs, rng)
            start = True


@pytest.mark.parametrize(
    "scalar, batched, settings",
    [
        ("agents.td0", "td0", {"alpha": 0.1}),
        ("agents.n_step_td", "n_step_td", {"alpha": 0.2, "n": 3}),
        ("agents.n_step_td", "n_step_td", {"alpha": 0.2, "n": 40}),
        ("agents.td_lambda", "td_lambda", {"alpha": 0.1, "lambda_": 0.8}),
        ("agents.true_online_td_lambda", "true_online_td_lambda", {"alpha": 0.1, "lambda_": 0.8}),
        ("agents.constant_alpha_mc", "mc", {"alpha": 0.05}),
    ],
)
def test_prediction_learners_replaying_scalar_transitions_end_with_the_same_values(
    scalar, batched, settings
):
    env = gym.make("rlcore/RandomWalk-v0", n_states=19)
    agent = rlcore.make(scalar, env, **settings)
    recorder = _Recorder()
    rlcore.run(agent, env, episodes=20, seed=3, callbacks=[recorder])
    learner = make_learner(batched, as_batched_env(env), 1, **settings)
    _replay(learner, recorder.steps)
    np.testing.assert_allclose(learner.v[0], agent.v, rtol=0, atol=1e-12)


def _block_means(returns: np.ndarray, block: int) -> np.ndarray:
    """(R, E) per-episode values -> (R, E // block) means of consecutive blocks."""
    runs, episodes = returns.shape
    return returns[:, : episodes // block * block].reshape(runs, -1, block).mean(axis=2)


def _mutually_consistent(a: np.ndarray, b: np.ndarray, confidence: float) -> np.ndarray:
    """Per column: each mean lies inside the other's confidence interval (up to rounding, for
    columns without spread, e.g. the RMS error after one episode, the same in every run)."""
    ia, ib = mean_ci(a, confidence=confidence), mean_ci(b, confidence=confidence)
    eps = 1e-12
    a_in_b = (ib.low - eps <= ia.estimate) & (ia.estimate <= ib.high + eps)
    b_in_a = (ia.low - eps <= ib.estimate) & (ib.estimate <= ia.high + eps)
    return a_in_b & b_in_a


def _scalar_returns(name: str, runs: int, episodes: int, seed: int) -> np.ndarray:
    env = gym.make("CliffWalking-v1")
    out = []
    for i in range(runs):
        agent = rlcore.make(f"agents.{name}", env, alpha=0.5, epsilon=0.1)
        out.append(rlcore.run(agent, env, episodes=episodes, seed=seed + i).returns)
    return np.asarray(out)


# Under the null (both sides sample the same distribution, R runs each) a mean falls outside
# the other's interval with probability P(|Z| > z / sqrt(2)); with the 1 - 1e-6 interval
# (z = 4.89) that is 5e-4 per comparison, about 1% for the 20 comparisons of a test.
CONFIDENCE = 1 - 1e-6


def test_cliff_walking_learning_curves_agree_with_scalar_runs():
    """Example 6.6's setting (alpha 0.5, epsilon 0.1), 100 episodes in 5 blocks of 20, 40 runs
    each way. Sarsa and Q-learning differ by 15-20 reward units per episode in the last blocks,
    against intervals of about +-10 to +-15: the negative control must fail somewhere."""
    episodes, block, runs = 100, 20, 40
    curves = {}
    for name in ("q_learning", "sarsa"):
        batched = run_batched(
            name, "CliffWalking-v1", runs=runs, episodes=episodes, seed=11, alpha=0.5, epsilon=0.1
        ).returns
        scalar = _scalar_returns(name, runs=runs, episodes=episodes, seed=100)
        curves[name] = (_block_means(batched, block), _block_means(scalar, block))
        assert _mutually_consistent(*curves[name], CONFIDENCE).all(), name
    # Negative control: batched Sarsa against scalar Q-learning must be told apart.
    sarsa_batched, q_scalar = curves["sarsa"][0], curves["q_learning"][1]
    assert not _mutually_consistent(sarsa_batched, q_scalar, CONFIDENCE).all()


def test_td0_random_walk_rms_curve_agrees_with_scalar_runs():
    """Example 6.2's setting: TD(0), alpha 0.1, V = 0.5, the 5-state walk, 100 episodes."""
    true_v = random_walk_true_values(5)

    def rms(v: np.ndarray) -> np.ndarray:
        return np.sqrt(np.mean((v[..., 1:-1] - true_v[1:-1]) ** 2, axis=-1))

    checkpoints = [1, 5, 10, 25, 50, 100]
    result = run_batched(
        "td0",
        "rlcore/RandomWalk-v0",
        runs=150,
        episodes=100,
        seed=4,
        alpha=0.1,
        initial_value=0.5,
        metrics={"rms": lambda learner, runs: rms(learner.v[runs])},
    )
    batched = result.metrics["rms"][:, checkpoints]

    class AtEpisodeEnd(rlcore.Callback):
        def __init__(self, agent):
            self.agent, self.values = agent, []

        def on_episode_end(self, episode, history):
            if episode + 1 in checkpoints:
                self.values.append(rms(self.agent.v))

    env = gym.make("rlcore/RandomWalk-v0")
    scalar = []
    for seed in range(150):
        agent = rlcore.make("agents.td0", env, alpha=0.1, initial_value=0.5)
        cb = AtEpisodeEnd(agent)
        rlcore.run(agent, env, episodes=100, seed=seed, callbacks=[cb])
        scalar.append(cb.values)
    assert _mutually_consistent(batched, np.asarray(scalar), CONFIDENCE).all()
