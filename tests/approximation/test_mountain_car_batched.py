"""The vectorised Mountain Car against gymnasium's, and the batched linear Sarsa engine against the
scalar agents step for step (random initial weights and epsilon = 0 make every action a strict
argmax, so both follow the same trajectory)."""

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rlcore.approximation.batched import run_linear_sarsa
from rlcore.approximation.features import Fourier, TileCoding
from rlcore.approximation.mountain_car import (
    TILING_HIGH,
    TILING_LOW,
    MountainCarBatch,
    mountain_car_step,
)
from rlcore.types import Transition


def test_dynamics_equal_gymnasium_mountain_car():
    env = gym.make("MountainCar-v0").unwrapped
    rng = np.random.default_rng(0)
    for episode in range(5):
        env.reset(seed=episode)
        for _ in range(300):
            state = np.array(env.state, dtype=np.float64)
            a = int(rng.integers(3)) if episode % 2 else 2 * int(state[1] >= 0)  # random / pump
            _, r, terminated, _, _ = env.step(a)
            mine, r_mine, term_mine = mountain_car_step(state, np.array(a))
            np.testing.assert_array_equal(mine, np.array(env.state, dtype=np.float64))
            assert r_mine == r and bool(term_mine) == terminated
            if terminated:
                break
    with pytest.raises(ValueError, match="actions are 0, 1, 2"):
        mountain_car_step(np.zeros(2), np.array(3))


class FixedStart:
    """Mountain Car starting at rest at x = -0.5 every episode (no randomness at all)."""

    n_actions = 3

    def reset(self, runs, rng):
        return np.tile([-0.5, 0.0], (np.asarray(runs).size, 1))

    def step(self, runs, state, action, rng):
        return mountain_car_step(state, action)


CODER = TileCoding(list(TILING_LOW), list(TILING_HIGH), n_tilings=8, tiles_per_dim=8)
CASES = [
    ("agents.semi_gradient_sarsa", {"n": 1}),
    ("agents.semi_gradient_sarsa", {"n": 4}),
    ("agents.linear_sarsa_lambda", {"lambda_": 0.9, "trace": "replacing"}),
    ("agents.linear_sarsa_lambda", {"lambda_": 0.8, "trace": "accumulating"}),
]


@pytest.mark.parametrize("name, config", CASES)
def test_batched_engine_equals_the_scalar_agent(name, config):
    w0 = np.random.default_rng(3).normal(0.0, 0.1, 3 * CODER.n_features)
    box = gym.spaces.Box(np.array(TILING_LOW), np.array(TILING_HIGH), dtype=np.float64)
    spaces_ = (box, gym.spaces.Discrete(3))
    agent = rlcore.make(name, spaces_, features=CODER, alpha=0.3 / 8, epsilon=0.0, **config)
    agent.w = w0.copy()
    lengths = []
    for _ in range(3):  # the scalar agent, driven by hand over the same dynamics
        agent.reset()
        s, n = np.array([-0.5, 0.0]), 0
        a = agent.act(s, explore=True)
        while True:
            s2, r, term = mountain_car_step(s, np.int64(a))
            n += 1
            cut = not term and n >= 400
            agent.observe(Transition(s, a, float(r), s2, bool(term), bool(cut)))
            if term or cut:
                break
            s, a = s2, agent.act(s2, explore=True)
        lengths.append(n)
    result = run_linear_sarsa(
        FixedStart(),
        CODER,
        runs=1,
        episodes=3,
        alpha=0.3 / 8,
        n=config.get("n", 1),
        lambda_=config.get("lambda_"),
        trace=config.get("trace", "replacing"),
        w0=w0,
        max_episode_steps=400,
    )
    assert result.lengths[0].tolist() == lengths
    np.testing.assert_array_equal(result.capped[0], np.array(lengths) >= 400)
    np.testing.assert_allclose(result.w[0], agent.w, atol=1e-9)


def test_many_runs_are_seeded_and_record_capped_episodes():
    kwargs = dict(runs=6, episodes=2, alpha=np.linspace(0.1, 0.6, 6) / 8, max_episode_steps=300)
    a = run_linear_sarsa(MountainCarBatch(), CODER, seed=1, lambda_=0.9, **kwargs)
    b = run_linear_sarsa(MountainCarBatch(), CODER, seed=1, lambda_=0.9, **kwargs)
    np.testing.assert_array_equal(a.lengths, b.lengths)
    np.testing.assert_array_equal(a.w, b.w)
    assert a.capped.any()  # 300 steps is too short for the first episodes
    np.testing.assert_array_equal(a.capped, a.lengths == 300)
    np.testing.assert_array_equal(a.returns, -a.lengths)


def test_bad_engine_input_is_refused():
    env = MountainCarBatch()
    with pytest.raises(TypeError, match="sparse"):
        run_linear_sarsa(env, Fourier(TILING_LOW, TILING_HIGH, 3), runs=1, episodes=1, alpha=0.1)
    with pytest.raises(ValueError, match="one-step"):
        run_linear_sarsa(env, CODER, runs=1, episodes=1, alpha=0.1, lambda_=0.5, n=2)
    with pytest.raises(ValueError, match=r"one value per run, shape \(3,\)"):
        run_linear_sarsa(env, CODER, runs=3, episodes=1, alpha=np.array([0.1, 0.2]))
    with pytest.raises(FloatingPointError, match="non-finite at step 1 of run 0"):
        run_linear_sarsa(env, CODER, runs=1, episodes=1, alpha=0.1, w0=np.full(1944, np.inf))
