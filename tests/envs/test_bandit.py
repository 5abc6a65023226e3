"""The multimodal reward bandit (issue 16)."""

import gymnasium as gym
import numpy as np
import pytest

import rlcore.data
from rlcore.envs.bandit import (
    BanditBehaviour,
    MultimodalBanditEnv,
    bandit_reward_mean,
    in_rewarded_mode,
    mode_centres,
)


def test_behaviour_data_has_four_equal_modes_and_one_pays():
    data = rlcore.data.collect("rlcore/MultimodalBandit-v0", 800, seed=0)
    assert np.all(data.episode_lengths == 1) and np.all(data.terminations)
    nearest = np.argmin(((data.actions[:, None] - mode_centres()) ** 2).sum(-1), axis=1)
    counts = np.bincount(nearest, minlength=4) / 800
    np.testing.assert_allclose(counts, 0.25, atol=0.05)  # binomial sd 0.015
    paid = data.rewards[nearest == 0].mean()
    unpaid = data.rewards[nearest != 0].mean()
    assert paid > 0.8 and abs(unpaid) < 0.03
    assert in_rewarded_mode(data.actions).mean() == pytest.approx(counts[0])


def test_reward_mean_is_the_bump():
    centre = mode_centres()[0]
    assert bandit_reward_mean(centre, centre, 0.15) == 1.0
    assert bandit_reward_mean(np.zeros(2), centre, 0.15) == pytest.approx(np.exp(-0.5 * 0.5 / 0.0225))


def test_env_checks_and_bad_input():
    from gymnasium.utils.env_checker import check_env

    check_env(gym.make("rlcore/MultimodalBandit-v0").unwrapped, skip_render_check=True)
    env = MultimodalBanditEnv(rewarded=2, noise=0.0)
    env.reset(seed=0)
    _, r, terminated, _, info = env.step(np.array([-0.5, -0.5]))
    assert r == 1.0 and terminated and info["in_rewarded_mode"]
    with pytest.raises(ValueError, match="rewarded"):
        MultimodalBanditEnv(rewarded=4)
    with pytest.raises(ValueError, match="action"):
        env.step(np.array([2.0, 0.0]))
    with pytest.raises(ValueError, match="std"):
        BanditBehaviour(std=-1.0)
