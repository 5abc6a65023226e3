"""Diffuser and Decision Diffuser contracts on tiny budgets (issue 16)."""

import numpy as np
import pytest

import rlcore
from rlcore.diffusion_policy.planners import (
    DecisionDiffuser,
    Diffuser,
    PlannerConfig,
    StateTracker,
    trajectory_windows,
)
from rlcore.envs.point_maze import PointMazeEnv, PointMazeExpert, point_maze_dataset

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


# ---------------------------------------------------------------- state tracking (maze2d mode)
def test_strided_windows_against_a_loop(maze_data):
    stride, h = 3, 4
    out = trajectory_windows(maze_data, h, 0.9, "test", stride=stride)
    obs, r, lengths = maze_data.observations, maze_data.rewards, maze_data.episode_lengths
    raw = out["obs_normalizer"].unnormalize(out["states"])
    row = 0
    for ep_start, length in zip(np.cumsum(lengths) - lengths, lengths):
        for t in range(length):
            rows = [ep_start + min(t + k * stride, length - 1) for k in range(h)]
            np.testing.assert_allclose(raw[row], obs[rows], atol=1e-5)
            span_end = min(t + (h - 1) * stride + 1, length)
            expected = sum(0.9 ** (k - t) * r[ep_start + k] for k in range(t, span_end))
            assert out["returns"][row] == pytest.approx(expected)
            row += 1


def test_tracker_action_is_the_pd_law_and_progress_is_monotone():
    tracker = StateTracker(kp=3.0, kd=0.5, lookahead=2)
    positions = np.stack([np.linspace(0.0, 1.4, 8), np.zeros(8)], axis=1)  # (8, 2) a line
    obs = np.array([0.41, 0.05, 0.2, -0.1])
    a, progress = tracker.action(positions, 1, obs)
    assert progress == 2  # nearest of points 1..4 to x = 0.41 is 0.4
    aim = positions[4]
    np.testing.assert_allclose(a, np.clip(3.0 * (aim - obs[:2]) - 0.5 * obs[2:], -1, 1))
    _, back = tracker.action(positions, 5, np.array([0.0, 0.0, 0.0, 0.0]))
    assert back == 5  # never moves backwards
    _, end = tracker.action(positions, 7, obs)
    assert end == 7


def test_plan_cost_is_length_plus_penalised_excess():
    tracker = StateTracker()
    short_jump = np.array([[[0.0, 0.0], [0.5, 0.0], [2.5, 0.0]]])  # last step 2.0 > max 1.0
    long_ok = np.array([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]])
    costs = tracker.plan_cost(np.concatenate([short_jump, long_ok]), max_step=1.0)
    np.testing.assert_allclose(costs, [2.5 + 100.0 * 1.0, 2.0])


class _FixedPlan(Diffuser):
    """A Diffuser whose plans are given (the expert's own path), to test the execution alone."""

    def planned_states(self, obs):
        self.calls.append(obs.shape[0])
        return np.repeat(self.path[None], obs.shape[0], axis=0)


def _expert_path(start, steps=40):
    env = PointMazeEnv("umaze")
    obs = env.set_state(np.asarray(start, dtype=np.float64))
    expert, path = PointMazeExpert("umaze"), [obs]
    for _ in range(steps):
        obs, *_ = env.step(expert.act(obs))
        path.append(obs)
    return np.asarray(path, dtype=np.float64)[::4]  # stride 4, like the benchmark


def test_tracking_the_experts_plan_reaches_the_goal_as_fast(maze_data):
    start = [1.5, 3.5]  # the far end of the U
    config = PlannerConfig(**{**TINY.__dict__, "horizon": 11, "stride": 4})
    planner = _FixedPlan(maze_data, config, controller=StateTracker(lookahead=2), seed=0)
    planner.path, planner.calls = _expert_path(start), []
    env, expert_env = PointMazeEnv("umaze"), PointMazeEnv("umaze")
    obs, expert_obs = env.set_state(np.array(start)), expert_env.set_state(np.array(start))
    expert = PointMazeExpert("umaze")
    tracked = reached = 0
    for _ in range(80):
        obs, r, *_ = env.step(planner.act(obs))
        expert_obs, r_e, *_ = expert_env.step(expert.act(expert_obs))
        tracked, reached = tracked + r, reached + r_e
    assert planner.calls == [1]  # planned once, never stuck
    assert reached > 0 and tracked >= reached - 2  # at the goal about as long as the expert


def test_stuck_mass_replans_and_stride_needs_a_tracker(maze_data):
    config = PlannerConfig(**{**TINY.__dict__, "horizon": 3, "stride": 4})
    planner = _FixedPlan(maze_data, config, controller=StateTracker(stuck_steps=3, n_plans=2))
    # a plan through the wall between the U's arms: the mass is pressed against it
    planner.path, planner.calls = np.array([[1.5, 3.5, 0, 0], [1.5, 2.5, 0, 0], [1.5, 1.5, 0, 0]]), []
    env = PointMazeEnv("umaze")
    obs = env.set_state(np.array([1.5, 3.5]))
    for _ in range(12):
        obs, *_ = env.step(planner.act(obs))
    assert len(planner.calls) >= 3 and set(planner.calls) == {2}  # replanned, n_plans at once
    with pytest.raises(ValueError, match="stride=4"):
        Diffuser(maze_data, config)
    with pytest.raises(ValueError, match="lookahead"):
        StateTracker(lookahead=0)
    with pytest.raises(ValueError, match="position_dims"):
        StateTracker(position_dims=(0,), velocity_dims=(2, 3))
