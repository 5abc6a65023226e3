"""Racetrack (Exercise 5.12): tracks, the line test, velocity rules, start and finish."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import rlcore  # noqa: F401  (registers the ids)
from rlcore.envs.racetrack import ACCELERATIONS, MAX_SPEED, RacetrackEnv, path_offsets


@pytest.fixture(scope="module")
def left() -> RacetrackEnv:
    return RacetrackEnv("left", noise=0.0)


def action(d_vy: int, d_vx: int) -> int:
    return ACCELERATIONS.index((d_vy, d_vx))


@pytest.mark.parametrize(
    "track, shape, n_start, n_finish", [("left", (32, 17), 6, 6), ("right", (30, 32), 23, 9)]
)
def test_tracks_have_the_figure_shapes(track, shape, n_start, n_finish):
    grid = RacetrackEnv(track).track
    assert grid.shape == shape
    start_rows, start_cols = np.nonzero(grid == "S")
    finish_rows, finish_cols = np.nonzero(grid == "F")
    assert len(start_rows) == n_start and set(start_rows) == {shape[0] - 1}  # the bottom row
    assert len(finish_rows) == n_finish and set(finish_cols) == {shape[1] - 1}  # the right edge
    assert np.all(np.diff(start_cols) == 1) and np.all(np.diff(finish_rows) == 1)  # contiguous
    assert finish_rows[0] == 0  # the finish line starts at the top


def _sampled_path(vy: int, vx: int, n: int = 20_000) -> list[tuple[int, int]]:
    """Independent line test: sample the centre-to-centre segment densely, keep points that are
    clearly inside a cell, and list the cells in order of first visit."""
    cells: list[tuple[int, int]] = []
    for k in range(n + 1):
        t = k / n
        y, x = -vy * t + 0.5, vx * t + 0.5  # coordinates in cell units, cell (i, j) = [i, i+1)
        if min(abs(y - round(y)), abs(x - round(x))) < 1e-6:
            continue  # on a boundary
        cell = (math.floor(y), math.floor(x))
        if cell != (0, 0) and cell not in cells:
            cells.append(cell)
    return cells


@pytest.mark.parametrize("vy", range(MAX_SPEED + 1))
@pytest.mark.parametrize("vx", range(MAX_SPEED + 1))
def test_projected_path_matches_dense_sampling(vy, vx):
    path = list(path_offsets(vy, vx))
    assert path == _sampled_path(vy, vx)
    if vy or vx:
        assert path[-1] == (-vy, vx)


def test_start_states_have_zero_velocity_on_the_start_line(left):
    starts = set()
    for seed in range(60):
        s, _ = left.reset(seed=seed)
        r, c, vy, vx = left.decode(s)
        assert left.track[r, c] == "S" and (vy, vx) == (0, 0)
        starts.add(s)
    assert starts == set(left.start_states)


def test_velocity_is_zero_only_on_the_start_line(left):
    for s in range(left.terminal_state):
        r, c, vy, vx = left.decode(s)
        assert 0 <= vy <= MAX_SPEED and 0 <= vx <= MAX_SPEED
        assert (vy, vx) != (0, 0) or left.track[r, c] == "S"
        assert left.state_index(r, c, vy, vx) == s
    with pytest.raises(ValueError, match="not a state"):
        left.state_index(10, 4, 0, 0)  # at rest off the start line
    with pytest.raises(ValueError, match="not a state"):
        left.state_index(10, 12, 1, 1)  # off the track


def test_velocity_rules_clip_and_never_stop_off_the_start_line(left):
    s = left.state_index(20, 4, 1, 0)
    ((p, s2, r, terminated),) = left.P[s][action(-1, 0)]  # would stop: increment ignored
    assert left.decode(s2) == (19, 4, 1, 0) and p == 1.0 and r == -1.0 and not terminated
    ((_, s2, _, _),) = left.P[s][action(-1, -1)]  # vx clips at 0, vy would stop: ignored
    assert left.decode(s2) == (19, 4, 1, 0)
    s = left.state_index(20, 4, 4, 0)
    ((_, s2, _, _),) = left.P[s][action(1, 0)]  # vy clips at 4
    assert left.decode(s2) == (16, 4, 4, 0)


def test_start_line_allows_rest_and_its_right_end_crashes(left):
    s = left.state_index(31, 8, 0, 0)  # rightmost start cell
    assert left.P[s][action(0, 0)] == [(1.0, s, -1.0, False)]  # stays at rest
    outcomes = left.P[s][action(0, 1)]  # drives right into the wall at (31, 9)
    assert sorted(s2 for _, s2, _, _ in outcomes) == sorted(left.start_states)
    assert [p for p, *_ in outcomes] == pytest.approx([1 / 6] * 6)
    assert all(r == -1.0 and not t for _, _, r, t in outcomes)


def test_crossing_the_finish_line_ends_the_episode(left):
    # From (2, 14) at speed 4 to the right: the path enters F at (2, 16) before leaving the grid.
    s = left.state_index(2, 14, 0, 3)
    assert left.P[s][action(0, 1)] == [(1.0, left.terminal_state, -1.0, True)]
    # Up-right from (5, 14) with velocity (1, 2): cells (5, 15), (4, 15), then F at (4, 16).
    s = left.state_index(5, 14, 1, 2)
    assert left.P[s][action(0, 0)] == [(1.0, left.terminal_state, -1.0, True)]


def test_leaving_the_track_before_the_finish_crashes(left):
    starts = set(left.start_states)
    s = left.state_index(8, 5, 4, 0)  # straight up at speed 4: rows 7..4 are track
    ((_, s2, _, _),) = left.P[s][action(0, 0)]
    assert left.decode(s2) == (4, 5, 4, 0)
    s = left.state_index(3, 5, 4, 0)  # from row 3 at speed 4: past the top of the grid
    assert {s2 for _, s2, _, _ in left.P[s][action(0, 0)]} == starts
    s = left.state_index(8, 8, 0, 1)  # right into the wall at (8, 9)
    assert {s2 for _, s2, _, _ in left.P[s][action(0, 0)]} == starts
    s = left.state_index(7, 8, 1, 1)  # diagonally onto (6, 9), the track's corner cell
    ((_, s2, _, _),) = left.P[s][action(0, 0)]
    assert left.decode(s2) == (6, 9, 1, 1)
    s = left.state_index(7, 8, 1, 2)  # cells (7, 9) first: a wall, so the car crashes
    assert {s2 for _, s2, _, _ in left.P[s][action(0, 0)]} == starts


def test_noise_keeps_the_velocity_with_probability_point_one():
    env = RacetrackEnv("left")  # noise 0.1
    s = env.state_index(20, 4, 1, 0)
    outcomes = {env.decode(s2): p for p, s2, _, _ in env.P[s][action(1, 1)]}
    assert outcomes == {(18, 5, 2, 1): pytest.approx(0.9), (19, 4, 1, 0): pytest.approx(0.1)}


def test_greedy_policy_from_value_iteration_finishes_in_the_env():
    env = RacetrackEnv("left", noise=0.0)
    from rlcore.tabular import FiniteMDP

    mdp = FiniteMDP.from_env(env)
    v = np.zeros(mdp.n_states)
    for _ in range(200):  # undiscounted shortest path; -v(s) = steps to finish
        v_new = mdp.q_from_v(v, 1.0).max(axis=1)
        if np.array_equal(v_new, v):
            break
        v = v_new
    q = mdp.q_from_v(v, 1.0)
    steps_to_go = -v[env.start_states]
    assert np.all(np.isfinite(steps_to_go)) and np.all(steps_to_go >= 9)  # >= 31 rows at speed <= 4
    for seed in range(3):
        s, _ = env.reset(seed=seed)
        start, steps, terminated = s, 0, False
        while not terminated and steps < 100:
            s, r, terminated, _, _ = env.step(int(np.argmax(q[s])))
            assert r == -1.0
            steps += 1
        assert terminated and steps == -v[start]


def test_right_track_builds_quickly_enough():
    import time

    t0 = time.perf_counter()
    env = gym.make("rlcore/Racetrack-v0", track=2)
    assert time.perf_counter() - t0 < 10.0
    assert env.unwrapped.track_name == "right"
