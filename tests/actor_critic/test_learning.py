"""Learning tests (slow): SAC's defaults learn Pendulum-v1; offline SAC-N beats behaviour cloning
on the medium tier."""

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rlcore.actor_critic import SAC, SACN
from rlcore.actor_critic.datasets import normalized_score, pendulum_tiers
from rlcore.data import load_dataset


@pytest.mark.slow
def test_sac_defaults_learn_pendulum():
    # seed 11 was never used while choosing the defaults (they were checked on seed 1)
    agent = SAC(gym.make("Pendulum-v1"), seed=11)
    rlcore.run(agent, "Pendulum-v1", steps=15_000, seed=11)
    evaluation = rlcore.run(agent.greedy_policy(), "Pendulum-v1", episodes=10, seed=123)
    assert np.mean(evaluation.returns) >= -250


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="found failing on 2026-12-07 (SAC-N -0.3 vs BC 53.0): on one policy's data SAC-N rises "
    "and then collapses within 10k steps, and d3rlpy's own 10-critic SAC does the same (README, "
    "actor-critic section, the 10,000-step offline row); the issue's claim is not met",
)
def test_offline_sac_n_beats_behaviour_cloning_on_medium(tmp_path):
    paths = pendulum_tiers(tmp_path, steps=20_000, train_steps=10_000, seed=3)
    info = __import__("json").loads(paths["info"].read_text())
    medium = load_dataset(paths["medium"])
    env = gym.make("Pendulum-v1")

    def score(policy):
        returns = rlcore.run(policy, "Pendulum-v1", episodes=10, seed=7).returns
        return float(
            normalized_score(np.mean(returns), info["random_return"], info["expert_return"])
        )

    bc = SAC(env, seed=0, buffer_size=medium.n_steps)
    bc.behaviour_cloning(medium, gradient_steps=3000)
    offline = SACN(env, seed=0, n_critics=5, buffer_size=medium.n_steps)
    offline.learn_offline(medium, gradient_steps=5000)
    bc_score, rl_score = score(bc.greedy_policy()), score(offline.greedy_policy())
    assert rl_score > bc_score + 5, (rl_score, bc_score)
