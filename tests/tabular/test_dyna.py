"""Dyna-Q, Dyna-Q+ and prioritized sweeping on the chapter-8 mazes, against DP and the book."""

import math

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rlcore.tabular.planning import value_iteration
from rlcore.types import Transition

GAMMA = 0.95
PLANNERS = ["agents.dyna_q", "agents.dyna_q_plus", "agents.prioritized_sweeping"]


def shortest_path(env):
    """Steps of the optimal path from the start, from DP: v*(start) = gamma^(L - 1)."""
    v = value_iteration(env, GAMMA).v[env.unwrapped.start_state]
    return 1 + round(math.log(v) / math.log(GAMMA))


@pytest.mark.parametrize("name", PLANNERS)
def test_planners_find_the_shortest_dyna_maze_path_quickly(name):
    # Figure 8.2: with n = 50 planning steps Dyna-Q walks the 14-step path after a few episodes.
    env = gym.make("rlcore/DynaMaze-v0")
    assert shortest_path(env) == 14
    agent = rlcore.make(name, env, n=50, alpha=0.1, epsilon=0.1, gamma=GAMMA, seed=0)
    rlcore.run(agent, env, episodes=15, seed=0)
    greedy = rlcore.run(agent, env, episodes=1, learn=False, max_episode_steps=200, seed=0)
    assert greedy.lengths == [14]


def test_dyna_q_plus_finds_the_shortcut_and_dyna_q_does_not():
    # Figure 8.5: a shorter path opens after 3000 steps; the exploration bonus finds it.
    after = gym.make("rlcore/ShortcutMaze-v0", layout="after", switch_step=None)
    lengths = {}
    for name in ("agents.dyna_q_plus", "agents.dyna_q"):
        env = gym.make("rlcore/ShortcutMaze-v0")
        agent = rlcore.make(name, env, n=50, alpha=1.0, epsilon=0.1, gamma=GAMMA, seed=0)
        rlcore.run(agent, env, steps=6000, seed=0)
        greedy = rlcore.run(agent, after, episodes=1, learn=False, max_episode_steps=100, seed=0)
        lengths[name] = greedy.lengths[0]
    assert lengths["agents.dyna_q_plus"] == shortest_path(after) == 10
    assert lengths["agents.dyna_q"] > 10


def test_dyna_q_plans_only_with_transitions_it_has_seen():
    spaces = (gym.spaces.Discrete(4), gym.spaces.Discrete(2))
    agent = rlcore.make("agents.dyna_q", spaces, n=20, alpha=1.0, gamma=1.0, initial_value=7.0)
    agent.observe(Transition(0, 1, 1.0, 1, False, False))
    agent.observe(Transition(1, 0, 2.0, 2, True, False))
    q = agent.q
    assert q[1, 0] == 2.0  # the terminal transition's reward
    assert q[0, 1] == 1.0 + 7.0  # bootstraps from max Q(1, .) = Q(1, 1), never tried: still 7
    untouched = np.ones((4, 2), bool)
    untouched[0, 1] = untouched[1, 0] = False
    assert np.all(q[untouched] == 7.0)


def test_prioritized_sweeping_propagates_a_reward_back_along_the_path():
    # One pass along a deterministic chain 0 -> 1 -> 2 -> 3 (reward 1 at the end): the
    # predecessors of each updated state are queued, so the value reaches the start at once.
    spaces = (gym.spaces.Discrete(5), gym.spaces.Discrete(2))
    agent = rlcore.make("agents.prioritized_sweeping", spaces, n=10, alpha=1.0, gamma=0.5)
    for s in range(3):
        agent.observe(Transition(s, 1, 0.0, s + 1, False, False))
    agent.observe(Transition(3, 1, 1.0, 4, True, False))
    np.testing.assert_allclose(agent.q[:4, 1], [0.125, 0.25, 0.5, 1.0])


@pytest.mark.parametrize("name", PLANNERS)
def test_planners_continue_identically_after_save_and_load(name, tmp_path):
    env = gym.make("rlcore/DynaMaze-v0")
    agent = rlcore.make(name, env, n=5, seed=0)
    rlcore.run(agent, env, episodes=3, seed=0)
    agent.save(tmp_path)
    loaded = rlcore.load(tmp_path)
    for a in (agent, loaded):
        rlcore.run(a, env, episodes=3, seed=1)
    np.testing.assert_array_equal(loaded.q, agent.q)


def test_bad_planning_settings_are_explained():
    spaces = (gym.spaces.Discrete(4), gym.spaces.Discrete(2))
    with pytest.raises(ValueError, match=r"n=-1 is outside \[0, inf\].*planning steps"):
        rlcore.make("agents.dyna_q", spaces, n=-1)
    with pytest.raises(ValueError, match=r"kappa=-1 is outside"):
        rlcore.make("agents.dyna_q_plus", spaces, kappa=-1)


def test_dyna_q_with_no_planning_is_q_learning_bit_for_bit():
    """n = 0 is Figure 8.2's direct-RL curve: one-step tabular Q-learning, same seed, same
    numbers (every Q value, every episode length)."""
    settings = dict(alpha=0.1, epsilon=0.1, gamma=GAMMA, seed=3)
    histories, tables = [], []
    for name, extra in (("agents.dyna_q", {"n": 0}), ("agents.q_learning", {})):
        env = gym.make("rlcore/DynaMaze-v0")
        agent = rlcore.make(name, env, **settings, **extra)
        histories.append(rlcore.run(agent, env, episodes=15, seed=7).lengths)
        tables.append(agent.q)
    assert histories[0] == histories[1]
    assert np.array_equal(tables[0], tables[1])
    assert histories[0][0] > 100  # a real run: the first episode wanders
