"""The book envs against published numbers and closed forms (values solved here with NumPy)."""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np
import pytest

import rlcore  # noqa: F401  (registers the ids)
from rlcore.tabular import FiniteMDP


def policy_values(env, pi: np.ndarray | None = None, gamma: float = 1.0) -> np.ndarray:
    """v_pi by solving (I - gamma P_pi) v = r_pi (terminal outcomes do not bootstrap)."""
    mdp = FiniteMDP.from_env(env)
    if pi is None:
        pi = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
    P_pi, r_pi = mdp.policy_matrices(pi)
    return np.linalg.solve(np.eye(mdp.n_states) - gamma * P_pi.toarray(), r_pi)


def shortest_episode(env) -> int:
    """Fewest steps from the start state to a terminating transition (BFS over the model)."""
    P, start = env.unwrapped.P, env.unwrapped.start_state
    dist, queue = {start: 0}, deque([start])
    while queue:
        s = queue.popleft()
        for outcomes in P[s].values():
            for _, s2, _, terminated in outcomes:
                if terminated:
                    return dist[s] + 1
                if s2 not in dist:
                    dist[s2] = dist[s] + 1
                    queue.append(s2)
    raise AssertionError("the goal is unreachable")


# -- random walks -----------------------------------------------------------------------------


def test_five_state_walk_values_are_one_sixth_to_five_sixths():
    env = gym.make("rlcore/RandomWalk-v0")
    expected = np.array([0, 1, 2, 3, 4, 5, 0]) / 6  # Example 6.2: v(A..E) = 1/6..5/6
    np.testing.assert_allclose(policy_values(env), expected, atol=1e-12)
    np.testing.assert_allclose(env.unwrapped.true_values, expected, atol=1e-12)
    assert env.reset(seed=0)[0] == 3  # episodes start in C


def test_nineteen_state_walk_values_are_linear_from_minus_point_nine():
    env = gym.make("rlcore/RandomWalk-v0", n_states=19)
    expected = np.concatenate([[0.0], np.linspace(-0.9, 0.9, 19), [0.0]])  # chapter 7
    np.testing.assert_allclose(policy_values(env), expected, atol=1e-12)
    np.testing.assert_allclose(env.unwrapped.true_values, expected, atol=1e-12)
    assert env.unwrapped.left_reward == -1.0
    assert env.reset(seed=0)[0] == 10


@pytest.mark.parametrize("n_states, left_reward", [(3, 0.0), (7, -1.0), (5, -2.5), (19, 0.0)])
def test_walk_true_values_agree_with_the_linear_solve(n_states, left_reward):
    env = gym.make("rlcore/RandomWalk-v0", n_states=n_states, left_reward=left_reward)
    np.testing.assert_allclose(env.unwrapped.true_values, policy_values(env), atol=1e-10)


def test_thousand_state_walk_edges_follow_the_book():
    P = gym.make("rlcore/RandomWalk1000-v0").unwrapped.P

    def terminate_prob(s, side):
        return sum(p for p, s2, _, t in P[s][0] if t and (s2 == 0) == (side == "left"))

    # Example 9.1: state 1 terminates left w.p. 1/2, state 950 right w.p. 1/4.
    assert terminate_prob(1, "left") == pytest.approx(0.5)
    assert terminate_prob(950, "right") == pytest.approx(0.25)
    assert terminate_prob(500, "left") == terminate_prob(500, "right") == 0.0
    assert terminate_prob(100, "left") == pytest.approx(0.005)
    for s in (1, 500, 1000):
        assert {r for _, s2, r, t in P[s][0] if t and s2 == 0} <= {-1.0}
        assert {r for _, s2, r, t in P[s][0] if t and s2 == 1001} <= {1.0}
        assert {r for _, _, r, t in P[s][0] if not t} == {0.0}
    inner = [s2 for p, s2, _, t in P[500][0] if not t]
    assert sorted(inner) == [*range(400, 500), *range(501, 601)]


def test_thousand_state_walk_true_values():
    env = gym.make("rlcore/RandomWalk1000-v0")
    v = env.unwrapped.true_values
    np.testing.assert_allclose(v, policy_values(env), atol=1e-9)
    assert v[0] == v[1001] == 0.0
    np.testing.assert_allclose(v[1:1001], -v[1:1001][::-1], atol=1e-12)  # antisymmetric
    assert np.all(np.diff(v[1:1001]) > 0)  # increasing, from near -1 to near +1 (Figure 9.1)
    assert -1.0 < v[1] < -0.8 and 0.8 < v[1000] < 1.0
    assert env.reset(seed=0)[0] == 500


# -- gridworlds -------------------------------------------------------------------------------


def test_gridworld_random_policy_values_are_figure_4_1():
    env = gym.make("rlcore/Gridworld4x4-v0")
    figure_4_1 = np.array(
        [[0, -14, -20, -22], [-14, -18, -20, -20], [-20, -20, -18, -14], [-22, -20, -14, 0]]
    )
    np.testing.assert_allclose(policy_values(env).reshape(4, 4), figure_4_1, atol=1e-9)


def test_gridworld_moves_off_the_grid_stay_put():
    P = gym.make("rlcore/Gridworld4x4-v0").unwrapped.P
    assert P[1][0] == [(1.0, 1, -1.0, False)]  # up from the top row
    assert P[4][3] == [(1.0, 4, -1.0, False)]  # left from the left column
    assert P[1][3] == [(1.0, 0, -1.0, True)]  # into the terminal corner
    assert P[6][2] == [(1.0, 10, -1.0, False)]


@pytest.mark.parametrize(
    "kwargs, steps",
    [({}, 15), ({"king_moves": True}, 7), ({"king_moves": True, "stay": True}, 7)],
)
def test_windy_gridworld_shortest_episode(kwargs, steps):
    # Figure 6.3: the optimal episode takes 15 steps; 7 with king's moves (Exercise 6.9).
    assert shortest_episode(gym.make("rlcore/WindyGridworld-v0", **kwargs)) == steps


def test_windy_gridworld_wind_and_actions():
    env = gym.make("rlcore/WindyGridworld-v0").unwrapped
    s = env.to_state(3, 6)  # wind 2
    assert env.P[s][1] == [(1.0, env.to_state(1, 7), -1.0, False)]
    assert env.P[env.to_state(0, 4)][0] == [(1.0, env.to_state(0, 4), -1.0, False)]  # clipped
    assert env.P[env.to_state(3, 6)][1][0][1] != env.goal_state  # the wind blows past G
    king = gym.make("rlcore/WindyGridworld-v0", king_moves=True, stay=True).unwrapped
    assert king.action_space.n == 9 and king.action_names[8] == "stay"
    assert king.P[king.to_state(5, 8)][8] == [(1.0, king.to_state(4, 8), -1.0, False)]


def test_windy_gridworld_stochastic_wind_is_one_third_each_in_windy_columns():
    env = gym.make("rlcore/WindyGridworld-v0", stochastic_wind=True).unwrapped
    outcomes = env.P[env.to_state(5, 6)][2]  # down in a wind-2 column: pushed up 1, 2 or 3
    assert sorted(s2 for _, s2, _, _ in outcomes) == [env.to_state(r, 6) for r in (3, 4, 5)]
    assert [p for p, _, _, _ in outcomes] == pytest.approx([1 / 3] * 3)
    assert len(env.P[env.to_state(3, 0)][1]) == 1  # a calm column stays deterministic
    assert len(env.P[env.to_state(0, 3)][0]) == 1  # all three pushes clip to the top row


# -- mazes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env_id, kwargs, steps",
    [
        ("rlcore/DynaMaze-v0", {}, 14),  # Figure 8.2
        ("rlcore/BlockingMaze-v0", {}, 10),  # Figure 8.4, gap on the right
        ("rlcore/BlockingMaze-v0", {"layout": "after", "switch_step": None}, 16),
        ("rlcore/ShortcutMaze-v0", {}, 16),  # Figure 8.5, around the left end
        ("rlcore/ShortcutMaze-v0", {"layout": "after", "switch_step": None}, 10),
    ],
)
def test_maze_shortest_paths(env_id, kwargs, steps):
    assert shortest_episode(gym.make(env_id, **kwargs)) == steps


def test_dyna_maze_reward_is_one_at_the_goal_only():
    env = gym.make("rlcore/DynaMaze-v0").unwrapped
    mdp = FiniteMDP.from_env(env)
    assert set(mdp.reward[mdp.terminated & (mdp.next_state == env.goal_state)]) == {1.0, 0.0}
    assert set(mdp.reward[~mdp.terminated]) == {0.0}
    assert env.to_cell(env.start_state) == (2, 0) and env.to_cell(env.goal_state) == (0, 8)


@pytest.mark.parametrize(
    "env_id, switch", [("rlcore/BlockingMaze-v0", 1000), ("rlcore/ShortcutMaze-v0", 3000)]
)
def test_maze_wall_moves_after_the_book_number_of_steps(env_id, switch):
    env = gym.make(env_id).unwrapped
    assert env.switch_step == switch
    before, after = env.models["before"], env.models["after"]
    env.reset(seed=0)
    for t in range(1, switch + 1):
        assert env.P is before and env.layout == "before"
        _, _, terminated, _, _ = env.step(t % 4)
        if terminated:
            env.reset()
    assert env.total_steps == switch
    assert env.P is after and env.layout == "after"
    env.reset()
    assert env.P is after  # the switch survives resets


@pytest.mark.parametrize(
    "kwargs, switch",
    [
        ({}, 1000),
        ({"layout": "after"}, None),
        ({"switch_step": None}, None),
        ({"switch_step": 7}, 7),
    ],
)
def test_maze_switch_step_defaults_to_the_book_for_the_before_layout(kwargs, switch):
    env = gym.make("rlcore/BlockingMaze-v0", **kwargs).unwrapped
    assert env.switch_step == switch
    assert env.layout == kwargs.get("layout", "before")
    assert gym.make("rlcore/DynaMaze-v0").unwrapped.switch_step is None


def test_maze_agent_under_the_new_wall_can_step_out():
    env = gym.make("rlcore/BlockingMaze-v0", switch_step=3).unwrapped
    env.reset(seed=0)
    cell = env.to_state(3, 8)  # the gap that the blocking wall closes
    env.s = cell
    env.step(1)  # right: blocked by the edge, stays in the gap
    env.step(1)
    env.step(1)  # third step: the wall appears under the agent
    assert env.layout == "after" and env.grids["after"][3, 8] == "#"
    s2, *_ = env.step(0)  # up, out of the wall
    assert s2 == env.to_state(2, 8)
    assert env.P[env.to_state(2, 8)][2][0][1] == env.to_state(2, 8)  # down into it: blocked


# -- short corridor, maximization bias, Baird --------------------------------------------------


def test_short_corridor_switched_actions_and_optimal_stochastic_policy():
    env = gym.make("rlcore/ShortCorridor-v0")
    P = env.unwrapped.P
    assert [P[s][1][0][1] for s in range(3)] == [1, 0, 3]  # right; reversed in state 1
    assert [P[s][0][0][1] for s in range(3)] == [0, 2, 1]  # left; no move in state 0
    ps = np.linspace(0.05, 0.95, 181)
    v0 = np.array([policy_values(env, np.tile([1 - p, p], (4, 1)))[0] for p in ps])
    np.testing.assert_allclose(v0, (2 * ps - 4) / (ps * (1 - ps)), rtol=1e-10)
    # Example 13.1: best probability of right about 0.59, value about -11.6.
    assert ps[np.argmax(v0)] == pytest.approx(0.59, abs=0.01)
    assert v0.max() == pytest.approx(-11.6, abs=0.1)


def test_maximization_bias_structure_and_masks():
    env = gym.make("rlcore/MaximizationBias-v0").unwrapped
    assert env.action_space.n == 10
    s, info = env.reset(seed=0)
    assert s == 0 and info["action_mask"].tolist() == [1, 1] + [0] * 8
    assert env.P[0][0] == [(1.0, 2, 0.0, True)]  # right: terminate, reward 0
    assert env.P[0][1] == [(1.0, 1, 0.0, False)]  # left: to B, reward 0
    assert all(env.P[0][a] == env.P[0][0] for a in range(2, 10))  # documented copies of right
    assert all(env.P[1][a] == [(1.0, 2, -0.1, True)] for a in range(10))
    s, _, terminated, _, info = env.step(1)
    assert s == 1 and not terminated and info["action_mask"].tolist() == [1] * 10
    assert env.valid_actions(0) == [0, 1] and env.valid_actions(1) == list(range(10))


def test_maximization_bias_rewards_in_b_are_normal_around_minus_point_one():
    env = gym.make("rlcore/MaximizationBias-v0").unwrapped
    env.reset(seed=5)
    n = 20_000
    rewards = np.empty(n)
    for i in range(n):
        env.s = 1
        rewards[i] = env.step(i % 10)[1]
    assert abs(rewards.mean() + 0.1) < 4 / np.sqrt(n)  # N(-0.1, 1): 4 standard errors
    assert abs(rewards.std() - 1.0) < 0.03
    env.reset(seed=5)
    assert env.step(0)[1] == 0.0  # right from A is exactly 0


def test_baird_behaviour_and_target_transition_structure():
    env = gym.make("rlcore/Baird-v0")
    base = env.unwrapped
    mdp = FiniteMDP.from_env(env)
    T = mdp.transition_matrix()  # (7, 2, 7)
    b, pi = base.behavior_policy, base.target_policy
    np.testing.assert_allclose(b, np.tile([6 / 7, 1 / 7], (7, 1)))
    np.testing.assert_allclose(pi, np.tile([0.0, 1.0], (7, 1)))
    # Under b the next state is uniform over all 7 states; under pi it is always the lower one.
    np.testing.assert_allclose(np.einsum("sa,sax->sx", b, T), np.full((7, 7), 1 / 7))
    np.testing.assert_allclose(np.einsum("sa,sax->sx", pi, T)[:, 6], 1.0)
    assert not mdp.terminated.any() and not mdp.reward.any()
    np.testing.assert_allclose(mdp.initial, np.full(7, 1 / 7))
    assert base.gamma == 0.99


def test_baird_features_and_initial_weights_are_the_books():
    base = gym.make("rlcore/Baird-v0").unwrapped
    x, w = base.features, base.initial_weights
    assert x.shape == (7, 8) and w.tolist() == [1, 1, 1, 1, 1, 1, 10, 1]
    # v(s) = 2 w_i + w_8 for the upper states, w_7 + 2 w_8 for the lower state (Figure 11.1).
    np.testing.assert_allclose(x @ w, [3, 3, 3, 3, 3, 3, 12])
    assert np.linalg.matrix_rank(x) == 7
    x[0, 0] = 99.0  # a fresh array each time
    assert base.features[0, 0] == 2.0


def test_baird_time_limit_truncates_at_1000_steps():
    env = gym.make("rlcore/Baird-v0")
    env.reset(seed=0)
    for t in range(1, 1001):
        _, _, terminated, truncated, _ = env.step(t % 2)
        assert not terminated
        assert truncated == (t == 1000)
