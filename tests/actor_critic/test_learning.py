"""Learning tests (slow): SAC's defaults learn Pendulum-v1; offline SAC-N with layer-normalised
critics beats behaviour cloning on the medium tier (the paper's SAC-N, without, does not)."""

import json

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


def _sac_n_and_bc_scores(tmp_path, tier_steps, tier_seed, layer_norm, gradient_steps):
    """(SAC-N's score, BC's score) on the medium tier of ``pendulum_tiers(seed=tier_seed)``:
    SAC-N (N 5) offline for ``gradient_steps``, BC for 3,000; 10 greedy episodes each."""
    paths = pendulum_tiers(tmp_path, steps=tier_steps, train_steps=10_000, seed=tier_seed)
    info = json.loads(paths["info"].read_text())
    medium = load_dataset(paths["medium"])
    env = gym.make("Pendulum-v1")

    def score(policy):
        returns = rlcore.run(policy, "Pendulum-v1", episodes=10, seed=7).returns
        return float(
            normalized_score(np.mean(returns), info["random_return"], info["expert_return"])
        )

    bc = SAC(env, seed=0, buffer_size=medium.n_steps)
    bc.behaviour_cloning(medium, gradient_steps=3000)
    offline = SACN(
        env, seed=0, n_critics=5, critic_layer_norm=layer_norm, buffer_size=medium.n_steps
    )
    offline.learn_offline(medium, gradient_steps=gradient_steps)
    return score(offline.greedy_policy()), score(bc.greedy_policy())


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="found failing on 2026-12-07 (SAC-N -0.3 vs BC 53.0): on one policy's data the paper's "
    "SAC-N (critics without layer norm) rises and then collapses within 10k steps, and d3rlpy's "
    "own 10-critic SAC does the same (README, actor-critic section); the default, with layer "
    "norm, is the next test",
)
def test_offline_sac_n_beats_behaviour_cloning_on_medium(tmp_path):
    # An et al.'s critics (the default normalises them)
    rl_score, bc_score = _sac_n_and_bc_scores(tmp_path, 20_000, 3, False, 5000)
    assert rl_score > bc_score + 5, (rl_score, bc_score)


@pytest.mark.slow
def test_offline_sac_n_with_layer_norm_beats_behaviour_cloning_on_medium(tmp_path):
    # tier seed 5 was generated for this test, after critic_layer_norm had been chosen on the
    # seed-0 tiers, and was never used to choose a setting (first run: 94.1 vs BC 44.7)
    rl_score, bc_score = _sac_n_and_bc_scores(tmp_path, 100_000, 5, True, 10_000)
    assert rl_score > bc_score + 5, (rl_score, bc_score)
