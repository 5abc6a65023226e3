"""A point-mass maze in NumPy: D4RL's maze2d idea (Fu et al. 2020) without MuJoCo.

Layouts are text: '#' wall, 'O' free, 'G' free and the default goal (D4RL's U-maze, medium and
large mazes, ``LAYOUTS``). Coordinates are in cell units: cell (row r, column c) is the square
[c, c + 1) x [r, r + 1) of the plane (x = column, y = row, row 0 at the top), so its centre is
(c + 0.5, r + 0.5).

Dynamics (a damped point mass with a force action a in [-1, 1]^2, time step dt = 0.1):

    v_{t+1} = (1 - damping dt) v_t + force dt a_t,     p_{t+1} = p_t + dt v_{t+1},

with damping = 2 and force = 5, so |v| <= force / damping = 2.5 per axis and a step moves at most
0.25 cells per axis. Walls: the move is applied one axis at a time; a move whose end lies in a
wall cell stops at the wall's face (1e-6 inside the free cell) and zeroes that velocity
component, so the mass never enters a wall or tunnels through one.

Observation (x, y, vx, vy); reward 1 while |p - goal| <= 0.5 and 0 otherwise (sparse); episodes
never terminate and are truncated at D4RL's lengths (300 U-maze, 600 medium, 800 large), so the
return counts the steps spent at the goal. Resets put the mass at a random free cell's centre
(not the goal's) plus U(-0.1, 0.1) noise, at rest.

``envs.point_maze_expert`` plans on the maze graph (breadth-first search over free cells) and
steers to the next cell's centre with a PD controller; ``envs.point_maze_dataset`` records its
noisy trajectories toward random goals (D4RL's maze2d data). ``normalized_score`` is D4RL's
100 (R - R_random) / (R_expert - R_random) with the reference returns ``REF_RETURNS`` measured
here (see its comment for the command).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlcore.envs._grid import COMPASS, find, parse_layout
from rlcore.registry import export
from rlcore.validation import as_generator, check_choice, check_int, check_range

LAYOUTS: dict[str, tuple[str, ...]] = {
    "umaze": (
        "#####",
        "#GOO#",
        "###O#",
        "#OOO#",
        "#####",
    ),
    "medium": (
        "########",
        "#OO##OO#",
        "#OO#OOO#",
        "##OOO###",
        "#OO#OOO#",
        "#O#OO#O#",
        "#OOO#OG#",
        "########",
    ),
    "large": (
        "############",
        "#OOOO#OOOOO#",
        "#O##O#O#O#O#",
        "#OOOOOO#OOO#",
        "#O####O###O#",
        "#OO#O#OOOOO#",
        "##O#O#O#O###",
        "#OO#OOO#OGO#",
        "############",
    ),
}
EPISODE_STEPS: dict[str, int] = {"umaze": 300, "medium": 600, "large": 800}
ALLOWED = frozenset("#OG")
DT, DAMPING, FORCE = 0.1, 2.0, 5.0
GOAL_RADIUS = 0.5
_EDGE = 1e-6


def parse_maze(layout: str | tuple[str, ...] | list[str]) -> np.ndarray:
    """A layout name or text rows -> (n_rows, n_cols) char array; checks characters and cells.

    Raises:
        ValueError: an unknown name, unequal rows, characters outside '#', 'O', 'G', more than
            one 'G', or no free cell.
    """
    if isinstance(layout, str):
        layout = LAYOUTS[check_choice("layout", layout, LAYOUTS)]
    grid = parse_layout(tuple(layout))
    bad = sorted(set(grid.ravel()) - ALLOWED)
    if bad:
        raise ValueError(
            f"maze layout has unknown characters {bad}; use '#' (wall), 'O' (free) and at most "
            "one 'G' (free, the goal)."
        )
    if len(find(grid, "G")) > 1:
        raise ValueError("maze layout has more than one 'G'; mark a single goal cell.")
    if not np.any(grid != "#"):
        raise ValueError("maze layout has no free cell ('O' or 'G'); the mass needs room.")
    return grid


def free_cells(grid: np.ndarray) -> list[tuple[int, int]]:
    """Free cells (row, col), row-major."""
    return [(int(r), int(c)) for r, c in zip(*np.nonzero(grid != "#"))]


def is_wall(grid: np.ndarray, row: int, col: int) -> bool:
    """Wall or outside the grid."""
    n_rows, n_cols = grid.shape
    return not (0 <= row < n_rows and 0 <= col < n_cols) or grid[row, col] == "#"


def bfs_distances(grid: np.ndarray, goal: tuple[int, int]) -> np.ndarray:
    """Shortest-path length in cell moves (4-neighbour) from every cell to ``goal``; -1 where
    unreachable or a wall. Shape (n_rows, n_cols)."""
    dist = np.full(grid.shape, -1, dtype=np.int64)
    dist[goal] = 0
    queue = deque([goal])
    while queue:
        r, c = queue.popleft()
        for dr, dc in COMPASS:
            nr, nc = r + dr, c + dc
            if not is_wall(grid, nr, nc) and dist[nr, nc] < 0:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def move_point(
    grid: np.ndarray, p_tm1: np.ndarray, v_tm1: np.ndarray, a_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One step of the damped point mass with walls (module docstring); p, v, a of shape (2,)."""
    v = (1.0 - DAMPING * DT) * v_tm1 + FORCE * DT * a_t
    p = p_tm1.copy()
    for axis in (0, 1):  # x (columns) then y (rows)
        moved = p.copy()
        moved[axis] = p[axis] + DT * v[axis]
        col, row = int(np.floor(moved[0])), int(np.floor(moved[1]))
        if is_wall(grid, row, col):
            cell = int(np.floor(p[axis]))  # the current (free) cell on this axis
            moved[axis] = cell + 1 - _EDGE if v[axis] > 0 else cell + _EDGE
            v[axis] = 0.0
        p = moved
    return p, v


class PointMazeEnv(gym.Env):
    """The point-mass maze (module docstring).

    Args:
        layout: "umaze", "medium", "large" or text rows.
        goal: goal cell (row, col); default the layout's 'G' (or the last free cell).
        render_mode: None (no rendering).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        layout: str | tuple[str, ...] = "umaze",
        goal: tuple[int, int] | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.grid = parse_maze(layout)
        cells = free_cells(self.grid)
        if goal is None:
            marked = find(self.grid, "G")
            goal = marked[0] if marked else cells[-1]
        goal = (int(goal[0]), int(goal[1]))
        if is_wall(self.grid, *goal):
            raise ValueError(f"goal cell {goal} is a wall or outside the maze; pick a free cell.")
        self.goal_cell = goal
        self.goal = np.array([goal[1] + 0.5, goal[0] + 0.5])
        self._starts = [c for c in cells if c != goal] or cells
        n_rows, n_cols = self.grid.shape
        v_max = FORCE / DAMPING
        low = np.array([0.0, 0.0, -v_max, -v_max], dtype=np.float32)
        high = np.array([n_cols, n_rows, v_max, v_max], dtype=np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._p = self.goal.copy()
        self._v = np.zeros(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        r, c = self._starts[int(self.np_random.integers(len(self._starts)))]
        self._p = np.array([c + 0.5, r + 0.5]) + self.np_random.uniform(-0.1, 0.1, size=2)
        self._v = np.zeros(2)
        return self._obs(), {}

    def set_state(self, position: np.ndarray, velocity: np.ndarray | None = None) -> np.ndarray:
        """Place the mass (tests and planners); returns the observation."""
        position = np.asarray(position, dtype=np.float64)
        if is_wall(self.grid, int(np.floor(position[1])), int(np.floor(position[0]))):
            raise ValueError(f"position {position.tolist()} lies in a wall.")
        self._p = position.copy()
        self._v = np.zeros(2) if velocity is None else np.asarray(velocity, dtype=np.float64)
        return self._obs()

    def step(self, action: Any):
        a_t = np.asarray(action, dtype=np.float64)
        if a_t.shape != (2,) or not np.all(np.isfinite(a_t)) or np.any(np.abs(a_t) > 1.0 + 1e-6):
            raise ValueError(
                f"action {action!r} is outside the action space {self.action_space}: give two "
                "finite numbers in [-1, 1]."
            )
        self._p, self._v = move_point(self.grid, self._p, self._v, a_t)
        at_goal = bool(np.linalg.norm(self._p - self.goal) <= GOAL_RADIUS)
        return self._obs(), float(at_goal), False, False, {"at_goal": at_goal}

    def _obs(self) -> np.ndarray:
        return np.concatenate([self._p, self._v]).astype(np.float32)


@export("envs.point_maze_expert")
class PointMazeExpert:
    """Waypoint expert: BFS on the maze graph, PD control to the next cell's centre.

    At each step: if the mass is in the target cell, aim at its centre (the goal point);
    otherwise aim at the centre of the neighbouring cell one move closer to the target, and
    a = clip(kp (aim - p) - kd v + N(0, noise^2), -1, 1). With ``random_goals`` the target is a
    uniformly drawn free cell, redrawn each time the mass comes within 0.5 of it (D4RL's maze2d
    data collection); otherwise it is the env's goal.

    Args:
        layout: the maze (as the env's).
        goal: the target cell when ``random_goals`` is False (default: the env's goal).
        random_goals: wander between random goals (dataset mode).
        noise: action noise standard deviation.
        kp, kd: PD gains.
        seed: int, numpy Generator or None.
    """

    def __init__(
        self,
        layout: str | tuple[str, ...] = "umaze",
        goal: tuple[int, int] | None = None,
        *,
        random_goals: bool = False,
        noise: float = 0.0,
        kp: float = 10.0,
        kd: float = 1.0,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        env = PointMazeEnv(layout, goal)
        self.grid, self.cells = env.grid, free_cells(env.grid)
        self.default_goal = env.goal_cell
        self.random_goals = bool(random_goals)
        self.noise = check_range("noise", noise, 0.0)
        self.kp = check_range("kp", kp, 0.0, low_open=True)
        self.kd = check_range("kd", kd, 0.0)
        self._rng = as_generator(seed)
        self._dist: dict[tuple[int, int], np.ndarray] = {}
        self.target = self.default_goal
        self.reset()

    def seed(self, seed: int | None) -> None:
        self._rng = as_generator(seed)
        self.reset()

    def reset(self) -> None:
        self.target = self._draw_target() if self.random_goals else self.default_goal

    def _draw_target(self) -> tuple[int, int]:
        return self.cells[int(self._rng.integers(len(self.cells)))]

    def distances(self, target: tuple[int, int]) -> np.ndarray:
        if target not in self._dist:
            self._dist[target] = bfs_distances(self.grid, target)
        return self._dist[target]

    def waypoint(self, p: np.ndarray) -> np.ndarray:
        """Where to steer from position p (2,): the next cell's centre on a shortest path."""
        row, col = int(np.floor(p[1])), int(np.floor(p[0]))
        dist = self.distances(self.target)
        best = (row, col)
        for dr, dc in COMPASS:
            nr, nc = row + dr, col + dc
            if not is_wall(self.grid, nr, nc) and 0 <= dist[nr, nc] < dist[best]:
                best = (nr, nc)
        return np.array([best[1] + 0.5, best[0] + 0.5])

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        p, v = obs[:2], obs[2:4]
        target = np.array([self.target[1] + 0.5, self.target[0] + 0.5])
        if self.random_goals and np.linalg.norm(p - target) <= GOAL_RADIUS:
            self.target = self._draw_target()
        aim = self.waypoint(p)
        a = self.kp * (aim - p) - self.kd * v
        if self.noise > 0:
            a = a + self.noise * self._rng.standard_normal(2)
        return np.clip(a, -1.0, 1.0).astype(np.float32)


def _expert(layout: str):
    def build(**kwargs: Any) -> PointMazeExpert:
        kwargs.setdefault("random_goals", True)
        kwargs.setdefault("noise", 0.2)
        return PointMazeExpert(layout, **kwargs)

    build.__doc__ = f"The dataset expert of rlcore/PointMaze-{layout}: random goals, noise 0.2."
    build.__name__ = build.__qualname__ = f"point_maze_{layout}_dataset_expert"
    return build


point_maze_umaze_dataset_expert = export("envs.point_maze_umaze_dataset_expert")(_expert("umaze"))
point_maze_medium_dataset_expert = export("envs.point_maze_medium_dataset_expert")(
    _expert("medium")
)
point_maze_large_dataset_expert = export("envs.point_maze_large_dataset_expert")(_expert("large"))

ENV_IDS: dict[str, str] = {
    "umaze": "rlcore/PointMaze-UMaze-v0",
    "medium": "rlcore/PointMaze-Medium-v0",
    "large": "rlcore/PointMaze-Large-v0",
}


@export("envs.point_maze_dataset")
def point_maze_dataset(
    layout: str = "umaze",
    n_episodes: int = 10,
    seed: int = 0,
    *,
    episode_steps: int = 1000,
    noise: float = 0.2,
    out_path: str | None = None,
):
    """D4RL-style maze2d data: the expert wandering between random goals with action noise.

    Rewards are those of the env's (fixed) goal, as in D4RL. Rolled out by ``rlcore.data.collect``.

    Args:
        layout: "umaze", "medium" or "large".
        n_episodes: episodes of ``episode_steps`` steps each.
        seed: seeds the env and the expert.
        noise: the expert's action noise.
        out_path: also write the ``.npz`` there.
    """
    from rlcore.data import collect

    check_choice("layout", layout, LAYOUTS)
    check_int("episode_steps", episode_steps, 1)
    expert = PointMazeExpert(layout, random_goals=True, noise=noise, seed=seed)
    return collect(
        ENV_IDS[layout],
        n_episodes,
        out_path,
        seed,
        policy=expert,
        env_kwargs={"max_episode_steps": episode_steps},
    )


# D4RL's normalised score references, measured here with
#   .venv/bin/python benchmarks/offline_generative.py --reference
# (100 episodes each, seed 0): the noise-free expert aiming at the goal, and uniform random
# actions.
REF_RETURNS: dict[str, tuple[float, float]] = {
    "umaze": (18.06, 282.35),
    "medium": (17.43, 569.71),
    "large": (14.93, 758.66),
}


def normalized_score(layout: str, episode_return: float) -> float:
    """100 (R - R_random) / (R_expert - R_random) with ``REF_RETURNS[layout]`` (D4RL, Fu et al.
    2020, §5)."""
    random_return, expert_return = REF_RETURNS[check_choice("layout", layout, REF_RETURNS)]
    return 100.0 * (episode_return - random_return) / (expert_return - random_return)
