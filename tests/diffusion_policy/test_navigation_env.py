"""Contract and geometry tests of rlcore/Navigation2D-v0 and its scripted expert."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

import rlcore
from rlcore.envs.navigation import (
    NO_ROUTE,
    Navigation2DEnv,
    NavigationExpert,
    NavigationLayout,
    mode_coverage,
    route_of,
    segment_hits_disc,
)

ENV_ID = "rlcore/Navigation2D-v0"


def test_passes_gymnasium_check_env():
    env = gym.make(ENV_ID)
    check_env(env.unwrapped)
    assert ENV_ID in rlcore.envs.ids()
    assert env.spec.max_episode_steps == 100


def test_straight_line_collides_and_terminates():
    env = Navigation2DEnv()
    obs, _ = env.reset(seed=0)
    for _ in range(100):
        obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], np.float32))
        if terminated:
            break
    assert terminated and info["collision"] and not info["success"] and reward == -1.0
    # The agent is stopped outside the obstacle: it never tunnels in.
    assert np.linalg.norm(obs) >= env.layout.obstacle_radius


def test_out_of_space_action_is_rejected():
    env = Navigation2DEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(np.array([1.5, 0.0]))
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(np.array([np.nan, 0.0]))


def test_expert_reaches_goal_on_both_routes_clear_of_the_obstacle():
    layout = NavigationLayout()
    env = gym.make(ENV_ID)
    expert = NavigationExpert(seed=1)
    routes, clearances = [], []
    for episode in range(60):
        obs, _ = env.reset(seed=episode)
        expert.reset()
        positions = [obs]
        while True:
            obs, reward, terminated, truncated, info = env.step(expert.act(obs))
            positions.append(obs)
            if terminated or truncated:
                break
        assert info["success"] and reward == 1.0
        path = np.asarray(positions, dtype=np.float64)
        routes.append(route_of(path))
        assert routes[-1] == expert.route
        clearances.append(np.min(np.linalg.norm(path, axis=1)) - layout.obstacle_radius)
    counts = np.bincount(routes, minlength=2)
    assert counts.min() >= 15  # both modes, roughly balanced (Binomial(60, 1/2))
    assert min(clearances) > 0.05


def test_expert_rollouts_through_run_are_reproducible():
    a = rlcore.run(NavigationExpert(), ENV_ID, episodes=5, seed=3)
    b = rlcore.run(NavigationExpert(), ENV_ID, episodes=5, seed=3)
    assert a.lengths == b.lengths and a.returns == b.returns == [1.0] * 5


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(*[st.floats(-1.0, 1.0) for _ in range(4)]),
    st.floats(0.05, 0.8),
)
def test_segment_hits_disc_matches_dense_sampling(coords, radius):
    p0, p1 = np.array(coords[:2]), np.array(coords[2:])
    u = np.linspace(0.0, 1.0, 20001)[:, None]
    distances = np.linalg.norm(p0 + u * (p1 - p0), axis=1)
    dense = distances.min()
    if abs(dense - radius) < 1e-3:  # too close to call with the sampling resolution
        return
    assert bool(segment_hits_disc(p0, p1, np.zeros(2), radius)) == (dense < radius)


def test_route_of_and_mode_coverage():
    above = np.array([[-1.0, 0.0], [-0.5, 0.3], [0.1, 0.6], [1.0, 0.0]])
    assert route_of(above) == 0
    assert route_of(above * np.array([1.0, -1.0])) == 1
    assert route_of(np.array([[-1.0, 0.0], [-0.5, 0.0]])) == NO_ROUTE
    assert mode_coverage(np.array([0, 1, 1]), np.array([True, True, False])) == 1.0
    assert mode_coverage(np.array([0, 1]), np.array([True, False])) == 0.5
    assert mode_coverage(np.array([NO_ROUTE]), np.array([False])) == 0.0
    with pytest.raises(ValueError, match="shape"):
        route_of(np.zeros(3))
