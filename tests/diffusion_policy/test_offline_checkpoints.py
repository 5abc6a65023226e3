"""save / rlcore.load round trips of the offline generative agents and planners (issue 16):
after loading, the same seed gives the same actions (bit for bit on CPU), and nothing is
unpickled."""

import json

import numpy as np
import pytest

import rlcore
import rlcore.data
from rlcore.diffusion_policy import StateTracker
from rlcore.diffusion_policy.diffusion_ql import DiffusionQL, DiffusionQLConfig
from rlcore.diffusion_policy.idql import IDQL, IDQLConfig
from rlcore.diffusion_policy.offline import ActionModelConfig
from rlcore.diffusion_policy.planners import DecisionDiffuser, Diffuser, PlannerConfig
from rlcore.envs.point_maze import PointMazeEnv, point_maze_dataset

SMALL = ActionModelConfig(hidden=32, depth=1, steps=3)
TINY = PlannerConfig(
    horizon=6,
    num_train_steps=4,
    sample_steps=4,
    hidden=32,
    depth=1,
    steps=4,
    batch_size=16,
    replan_every=2,
)


@pytest.fixture(scope="module")
def bandit_data():
    return rlcore.data.collect("rlcore/MultimodalBandit-v0", 200, seed=0)


@pytest.fixture(scope="module")
def maze_data():
    return point_maze_dataset("umaze", 2, seed=0, episode_steps=40)


def _same_actions(a, b, obs):
    a.seed(11)
    b.seed(11)
    a.reset()
    b.reset()
    for o in obs:
        np.testing.assert_array_equal(a.act(o), b.act(o))


def _round_trip(agent, tmp_path):
    agent.save(tmp_path / "ckpt")
    header = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert header["format"] == "rlcore-checkpoint"
    return rlcore.load(tmp_path / "ckpt")


@pytest.mark.parametrize("select", ["argmax", "expectile"])
def test_idql_round_trip_same_actions(bandit_data, tmp_path, select):
    agent = IDQL(
        bandit_data,
        IDQLConfig(gamma=0.0, hidden=16, batch_size=32, actor=SMALL, n_candidates=8, select=select),
        seed=2,
    )
    agent.fit(5)
    loaded = _round_trip(agent, tmp_path)
    assert isinstance(loaded, IDQL) and loaded.trained_steps == 5
    assert loaded.config == agent.config
    obs = np.zeros((4, 1), dtype=np.float32)
    _same_actions(agent, loaded, obs)
    # training continues from the same weights and minibatch stream: equal critic losses
    assert loaded.update(actor=False)["train/q_loss"] == agent.update(actor=False)["train/q_loss"]


def test_diffusion_ql_round_trip_same_actions(bandit_data, tmp_path):
    agent = DiffusionQL(
        bandit_data,
        DiffusionQLConfig(gamma=0.0, hidden=16, batch_size=32, actor=SMALL, action_approx="edp"),
        seed=4,
    )
    agent.fit(5)
    loaded = _round_trip(agent, tmp_path)
    assert loaded.config == agent.config and loaded.ema.num_updates == agent.ema.num_updates
    _same_actions(agent, loaded, np.zeros((4, 1), dtype=np.float32))


def test_diffuser_round_trip_same_plans(maze_data, tmp_path):
    goal = PointMazeEnv("umaze").goal
    planner = Diffuser(maze_data, TINY, goal=goal, guidance_scale=0.1, seed=1).fit()
    loaded = _round_trip(planner, tmp_path)
    assert loaded.ema_net is not loaded.net and loaded.return_model is not None
    obs = np.array([[3.4, 3.6, 0.0, 0.0], [3.5, 1.5, 0.1, 0.0]])
    _same_actions(planner, loaded, obs)
    planner.seed(0)
    loaded.seed(0)
    np.testing.assert_array_equal(planner.plan_trajectories(obs), loaded.plan_trajectories(obs))


def test_tracking_decision_diffuser_round_trip(maze_data, tmp_path):
    config = PlannerConfig(**{**TINY.__dict__, "stride": 2})
    planner = DecisionDiffuser(
        maze_data,
        config,
        condition="goal",
        seed=0,
        controller=StateTracker(lookahead=2, replan_every=3),
    ).fit()
    planner.set_target(PointMazeEnv("umaze").goal)
    loaded = _round_trip(planner, tmp_path)
    assert loaded.controller == planner.controller and loaded.config.stride == 2
    obs = np.array(
        [[3.4, 3.6, 0.0, 0.0], [3.3, 3.5, 0.5, 0.0], [3.2, 3.5, 0.8, 0.0], [3.0, 3.4, 1.0, 0.0]]
    )
    _same_actions(planner, loaded, obs)


def test_unsaveable_option_is_named(bandit_data, tmp_path):
    agent = IDQL(
        bandit_data,
        IDQLConfig(gamma=0.0, hidden=16, actor=SMALL),
        reduction=lambda q: q.min(dim=0).values,
    )
    with pytest.raises(TypeError, match="reduction"):
        agent.save(tmp_path / "x")
