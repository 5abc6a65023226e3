"""The point-mass maze (issue 16): layouts, walls, the expert and the dataset."""

import gymnasium as gym
import numpy as np
import pytest

import rlcore.envs  # noqa: F401  (registers the ids)
from rlcore.envs.point_maze import (
    EPISODE_STEPS,
    LAYOUTS,
    PointMazeEnv,
    PointMazeExpert,
    bfs_distances,
    free_cells,
    is_wall,
    move_point,
    parse_maze,
    point_maze_dataset,
)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_expert_reaches_the_goal_from_every_free_cell(layout):
    env = PointMazeEnv(layout)
    expert = PointMazeExpert(layout)
    for r, c in free_cells(env.grid):
        obs = env.set_state(np.array([c + 0.5, r + 0.5]))
        for _ in range(EPISODE_STEPS[layout]):
            obs, reward, *_ = env.step(expert.act(obs))
            if reward > 0:
                break
        assert reward == 1.0, f"the expert did not reach the goal from cell {(r, c)}"


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_random_actions_never_enter_a_wall(layout):
    grid = parse_maze(layout)
    rng = np.random.default_rng(0)
    cells = free_cells(grid)
    for start in range(20):
        r, c = cells[start % len(cells)]
        p, v = np.array([c + 0.5, r + 0.5]), np.zeros(2)
        for _ in range(200):
            p_next, v = move_point(grid, p, v, rng.choice([-1.0, 1.0], size=2))
            assert not is_wall(grid, int(np.floor(p_next[1])), int(np.floor(p_next[0])))
            assert np.all(np.abs(p_next - p) <= 0.25 + 1e-12)  # at most a quarter cell per axis
            p = p_next


def test_pushing_into_a_wall_stops_at_its_face():
    grid = parse_maze("umaze")
    p, v = np.array([1.5, 1.5]), np.zeros(2)  # the goal cell, a wall to its left
    for _ in range(30):
        p, v = move_point(grid, p, v, np.array([-1.0, 0.0]))
    assert p[0] == pytest.approx(1.0 + 1e-6) and v[0] == 0.0
    assert p[1] == 1.5


def test_free_flight_matches_the_closed_form():
    grid = parse_maze(("OOOOOOOOOO",) * 3)
    p, v = np.array([0.5, 1.5]), np.zeros(2)
    a = np.array([1.0, 0.0])
    for _ in range(5):
        p, v = move_point(grid, p, v, a)
    # v_n = (force dt) sum_{k<n} (1 - damping dt)^k
    v_expected = 0.5 * sum(0.8**k for k in range(5))
    assert v[0] == pytest.approx(v_expected)


def test_bfs_distances_on_the_umaze():
    grid = parse_maze("umaze")
    dist = bfs_distances(grid, (1, 1))
    assert dist[3, 1] == 6 and dist[1, 3] == 2 and dist[0, 0] == -1


def test_bad_layouts_are_refused():
    with pytest.raises(ValueError, match="unknown characters"):
        parse_maze(("#####", "#O.O#", "#####"))
    with pytest.raises(ValueError, match="no free cell"):
        parse_maze(("###", "###"))
    with pytest.raises(ValueError, match="more than one 'G'"):
        parse_maze(("#GG#",))
    with pytest.raises(ValueError, match="layout"):
        parse_maze("spiral")
    with pytest.raises(ValueError, match="wall"):
        PointMazeEnv("umaze", goal=(0, 0))


def test_registered_env_passes_gymnasium_checks_and_is_deterministic():
    from gymnasium.utils.env_checker import check_env

    env = gym.make("rlcore/PointMaze-UMaze-v0")
    check_env(env.unwrapped, skip_render_check=True)
    assert env.spec.max_episode_steps == 300
    a, _ = env.reset(seed=3)
    b, _ = env.reset(seed=3)
    np.testing.assert_array_equal(a, b)


def test_dataset_is_deterministic_and_follows_the_layout():
    d1 = point_maze_dataset("umaze", 2, seed=0, episode_steps=100)
    d2 = point_maze_dataset("umaze", 2, seed=0, episode_steps=100)
    np.testing.assert_array_equal(d1.observations, d2.observations)
    assert d1.n_steps == 200 and d1.observations.shape[1] == 4
    assert np.all(np.abs(d1.actions) <= 1.0)
    assert d1.truncations.sum() == 2


def test_normalized_score_maps_the_references_to_0_and_100():
    from rlcore.envs.point_maze import REF_RETURNS, normalized_score

    for layout, (random_return, expert_return) in REF_RETURNS.items():
        assert normalized_score(layout, random_return) == pytest.approx(0.0)
        assert normalized_score(layout, expert_return) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="layout"):
        normalized_score("spiral", 1.0)
