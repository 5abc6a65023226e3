"""Deep Sea: the model against bsuite's rules and dynamic programming; the mapping seed; a slow
test that bootstrapped DQN with priors solves size 10."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlcore
from rlcore.envs.deep_sea import DeepSeaEnv
from rlcore.tabular import FiniteMDP, planning


@pytest.mark.parametrize("one_hot", [True, False])
def test_check_env_and_registration(one_hot):
    env = gym.make("rlcore/DeepSea-v0", size=6, one_hot=one_hot)
    check_env(env.unwrapped, skip_render_check=True)
    assert env.observation_space.shape == ((6, 6) if one_hot else ())


def test_always_right_earns_the_treasure_and_dp_agrees():
    env = DeepSeaEnv(8, mapping_seed=3)
    obs, _ = env.reset(seed=0)
    total, t = 0.0, 0
    while True:
        row, col = np.argwhere(obs == 1)[0]
        assert (row, col) == (t, t)  # the diagonal
        obs, r, terminated, truncated, _ = env.step(int(env.action_right[row, col]))
        total, t = total + r, t + 1
        if terminated:
            break
    assert t == 8 and total == pytest.approx(0.99) and not obs.any()
    tab = DeepSeaEnv(8, mapping_seed=3, one_hot=False)
    assert planning.value_iteration(FiniteMDP.from_env(tab), 1.0).v[0] == pytest.approx(0.99)
    # every other policy earns at most 0: e.g. always-left
    obs, _ = env.reset(seed=0)
    rewards = []
    for _ in range(8):
        row, col = np.argwhere(obs == 1)[0]
        obs, r, *_ = env.step(1 - int(env.action_right[row, col]))
        rewards.append(r)
    assert rewards == [0.0] * 8


def test_action_meaning_is_random_per_cell_and_fixed_by_the_seed():
    a, b, c = DeepSeaEnv(20, 0), DeepSeaEnv(20, 0), DeepSeaEnv(20, 1)
    np.testing.assert_array_equal(a.action_right, b.action_right)
    assert not np.array_equal(a.action_right, c.action_right)
    assert 0.4 < a.action_right.mean() < 0.6


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"size=0 is outside \[1, inf\]"):
        DeepSeaEnv(0)
    with pytest.raises(ValueError, match=r"move_cost=-1.0 is outside"):
        DeepSeaEnv(5, move_cost=-1.0)


@pytest.mark.slow
def test_bootstrapped_dqn_with_priors_solves_deep_sea_10():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from deep_sea import agents, solve

    name, settings = agents(10)["bootstrapped + prior"]
    episodes, _ = solve(name, settings, 10, 1000, seed=0)
    assert episodes is not None, "not solved in 1,000 episodes"
    assert rlcore.get(name)
