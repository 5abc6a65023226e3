"""Diffuser and Decision Diffuser contracts on tiny budgets (issue 16)."""

import numpy as np
import pytest

import rlcore
from rlcore.diffusion_policy.planners import (
    DecisionDiffuser,
    Diffuser,
    PlannerConfig,
    trajectory_windows,
)
from rlcore.envs.point_maze import PointMazeEnv, point_maze_dataset

TINY = PlannerConfig(horizon=8, num_train_steps=5, sample_steps=5, hidden=32, depth=1, steps=5,
                     batch_size=16, replan_every=2)


@pytest.fixture(scope="module")
def maze_data():
    return point_maze_dataset("umaze", 2, seed=0, episode_steps=60)


def test_windows_and_returns_against_a_loop(maze_data):
    out = trajectory_windows(maze_data, 5, 0.9, "test")
    r, lengths = maze_data.rewards, maze_data.episode_lengths
    row = 0
    for ep_start, length in zip(np.cumsum(lengths) - lengths, lengths):
        for t in range(length):
            end = min(t + 5, length)
            expected = sum(0.9 ** (k - t) * r[ep_start + k] for k in range(t, end))
            assert out["returns"][row] == pytest.approx(expected)
            row += 1
    assert out["states"].shape == (maze_data.n_steps, 5, 4)


def test_diffuser_inpaints_start_and_goal_exactly(maze_data):
    goal = PointMazeEnv("umaze").goal
    planner = Diffuser(maze_data, TINY, goal=goal, seed=0).fit()
    obs = np.array([[3.4, 3.6, 0.1, -0.2], [1.5, 3.5, 0.0, 0.0]])
    tau = planner.plan_trajectories(obs)
    assert tau.shape == (2, 8, 6)
    np.testing.assert_allclose(tau[:, 0, :4], obs, atol=1e-5)
    np.testing.assert_allclose(tau[:, -1, :2], np.broadcast_to(goal, (2, 2)), atol=1e-5)


def test_diffuser_guided_runs_and_is_deterministic(maze_data):
    returns = []
    for _ in range(2):
        planner = Diffuser(maze_data, TINY, guidance_scale=0.5, seed=0).fit()
        assert planner.return_model is not None
        history = rlcore.run(planner, "rlcore/PointMaze-UMaze-v0", episodes=1, seed=0,
                             env_kwargs={"max_episode_steps": 6})
        returns.append(planner.plan(np.array([[2.5, 2.5, 0.0, 0.0]])))
    assert len(history.returns) == 1
    np.testing.assert_array_equal(returns[0], returns[1])
    assert Diffuser(maze_data, TINY).return_model is None  # scale 0: unguided, no model


def test_decision_diffuser_goal_and_return_conditions(maze_data):
    planner = DecisionDiffuser(maze_data, TINY, condition="goal", seed=0).fit()
    planner.set_target(PointMazeEnv("umaze").goal)
    actions = planner.plan(np.array([[3.5, 3.5, 0.0, 0.0]]))
    assert actions.shape == (1, 7, 2)
    states = planner.plan_states(np.array([[3.5, 3.5, 0.0, 0.0]]))
    np.testing.assert_allclose(
        planner.obs_normalizer.unnormalize(states[0, 0]), [3.5, 3.5, 0.0, 0.0], atol=1e-5
    )
    with pytest.raises(ValueError, match="goal must have shape"):
        planner.set_target([1.0])
    by_return = DecisionDiffuser(maze_data, TINY, condition="return", seed=0).fit()
    low, high = by_return.return_range
    with pytest.warns(UserWarning, match="outside the range seen in training"):
        by_return.set_target(high + 10.0)
    history = rlcore.run(by_return, "rlcore/PointMaze-UMaze-v0", episodes=1, seed=0,
                         env_kwargs={"max_episode_steps": 4})
    assert len(history.returns) == 1


def test_planner_bad_input(maze_data):
    with pytest.raises(ValueError, match="replan_every"):
        PlannerConfig(horizon=4, replan_every=4)
    with pytest.raises(ValueError, match="condition"):
        DecisionDiffuser(maze_data, TINY, condition="reward")
    with pytest.raises(ValueError, match="guidance_scale"):
        Diffuser(maze_data, TINY, guidance_scale=-1.0)
    with pytest.raises(ValueError, match="goal must have shape"):
        Diffuser(maze_data, TINY, goal=np.zeros(3))
    arrays = {"observations": maze_data.observations, "actions": maze_data.actions}
    with pytest.raises(ValueError, match="rewards"):
        Diffuser(arrays, TINY)
