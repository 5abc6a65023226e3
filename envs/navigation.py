"""A 2-D navigation task with two equally good routes: why generative policies matter.

The agent is a point in the square arena [-1.5, 1.5]^2. It starts near (-1, 0); the goal is the
disc of radius 0.1 around (1, 0); a circular obstacle of radius 0.35 sits at the origin, right
on the straight line between them. Every step it moves by ``max_step * a_t`` with the action
a_t in [-1, 1]^2 (a velocity command); the arena walls stop it.

- Success: the new position lies in the goal disc. Terminates, reward +1.
- Collision: the segment from the old to the new position enters the obstacle. Terminates,
  reward -1, and the agent stays where it was (so it never tunnels through the obstacle).
- Otherwise reward 0; the registered id adds a time limit of 100 steps (truncation).
- ``info`` carries ``success``, ``collision`` and ``position`` on every step.

The scripted expert (``envs.navigation_expert``) drives straight to a branch point in front of
the obstacle, then picks a route, above or below, with probability 1/2 each, per episode. The
data are therefore bimodal at the branch point for the same observation: a policy regressed with
mean-squared error predicts the average of "up" and "down", which is "straight on", into the
obstacle (Florence et al. 2021, "Implicit Behavioral Cloning"; Chi et al. 2023, "Diffusion
Policy", Fig. 3). ``route_of`` names the route a trajectory took, for the mode-coverage metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlcore.loop import Callback, run
from rlcore.registry import export
from rlcore.validation import as_generator, check_range

ROUTES: tuple[str, ...] = ("above", "below")  # route index 0, 1
NO_ROUTE = -1  # a trajectory that never passed the obstacle


@dataclass(frozen=True)
class NavigationLayout:
    """Geometry of the task (all lengths in arena units).

    Attributes:
        arena: half-width of the square arena [-arena, arena]^2.
        start: nominal start position; the reset draws uniformly within ``start_noise`` of it.
        start_noise: half-width of the start square.
        goal: goal centre.
        goal_radius: the episode succeeds inside this disc.
        obstacle: obstacle centre.
        obstacle_radius: radius of the circular obstacle.
        max_step: distance covered per step at full speed (|a| = 1 on one axis).
    """

    arena: float = 1.5
    start: tuple[float, float] = (-1.0, 0.0)
    start_noise: float = 0.05
    goal: tuple[float, float] = (1.0, 0.0)
    goal_radius: float = 0.1
    obstacle: tuple[float, float] = (0.0, 0.0)
    obstacle_radius: float = 0.35
    max_step: float = 0.1


def segment_hits_disc(
    p_tm1: np.ndarray, p_t: np.ndarray, centre: np.ndarray, radius: float
) -> np.ndarray:
    """Whether the segment from ``p_tm1`` to ``p_t`` comes closer than ``radius`` to ``centre``.

    The closest point is p_tm1 + u (p_t - p_tm1) with u = clip(<c - p_tm1, d> / |d|^2, 0, 1),
    d = p_t - p_tm1.

    Args:
        p_tm1: (..., 2) segment starts.
        p_t: (..., 2) segment ends.
        centre: (2,) disc centre.
        radius: disc radius.

    Returns:
        (...,) bool.
    """
    d = p_t - p_tm1
    dd = np.sum(d * d, axis=-1)
    u = np.sum((centre - p_tm1) * d, axis=-1) / np.where(dd > 0.0, dd, 1.0)
    u = np.clip(u, 0.0, 1.0)
    closest = p_tm1 + u[..., None] * d
    return np.sum((closest - centre) ** 2, axis=-1) < radius**2


def route_of(positions: np.ndarray, obstacle_x: float = 0.0) -> int:
    """Which side of the obstacle a trajectory passed: 0 above, 1 below, ``NO_ROUTE`` if neither.

    The route is the sign of y at the first position with x >= ``obstacle_x`` (the obstacle's
    centre line).

    Args:
        positions: (T, 2) positions of one episode, in order.
        obstacle_x: x of the obstacle centre.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 2:
        raise ValueError(f"positions must have shape (T, 2), got {positions.shape}.")
    past = np.nonzero(positions[:, 0] >= obstacle_x)[0]
    if past.size == 0:
        return NO_ROUTE
    return 0 if positions[past[0], 1] >= 0.0 else 1


def mode_coverage(routes: np.ndarray, successes: np.ndarray, n_routes: int = len(ROUTES)) -> float:
    """Fraction of the expert's routes that at least one successful episode reproduced.

    Args:
        routes: (E,) route index of each episode (``NO_ROUTE`` allowed).
        successes: (E,) bool, whether each episode reached the goal.
        n_routes: number of expert routes.
    """
    routes = np.asarray(routes)
    successes = np.asarray(successes, dtype=bool)
    if routes.shape != successes.shape:
        raise ValueError(f"routes {routes.shape} and successes {successes.shape} differ.")
    found = {int(r) for r in routes[successes] if 0 <= r < n_routes}
    return len(found) / n_routes


class Navigation2DEnv(gym.Env):
    """Point navigation around a circular obstacle (see the module docstring).

    Observation: the position (x, y), float32 in [-arena, arena]^2. Action: a velocity command
    in [-1, 1]^2, float32; the position moves by ``max_step * action``.

    Args:
        layout: the geometry; the default is the registered task.
        render_mode: ``None`` or ``"rgb_array"`` (a small top-down image).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self, layout: NavigationLayout | None = None, render_mode: str | None = None
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; use one of "
                f"{self.metadata['render_modes']} or None."
            )
        self.layout = layout or NavigationLayout()
        a = self.layout.arena
        self.observation_space = spaces.Box(-a, a, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.render_mode = render_mode
        self._goal = np.asarray(self.layout.goal, dtype=np.float64)
        self._obstacle = np.asarray(self.layout.obstacle, dtype=np.float64)
        self._position = np.asarray(self.layout.start, dtype=np.float64)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        noise = self.np_random.uniform(-1.0, 1.0, size=2) * self.layout.start_noise
        self._position = np.asarray(self.layout.start, dtype=np.float64) + noise
        return self._obs(), self._info(success=False, collision=False)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a_t = np.asarray(action, dtype=np.float64)
        if a_t.shape != (2,) or not np.all(np.isfinite(a_t)) or np.any(np.abs(a_t) > 1.0 + 1e-6):
            raise ValueError(
                f"action {action!r} is outside the action space {self.action_space}: give two "
                "finite numbers in [-1, 1] (a policy that can overshoot should clip to "
                "env.action_space.low / high)."
            )
        p_tm1 = self._position
        a = self.layout.arena
        p_t = np.clip(p_tm1 + self.layout.max_step * a_t, -a, a)  # the walls stop the agent
        collision = bool(segment_hits_disc(p_tm1, p_t, self._obstacle, self.layout.obstacle_radius))
        if collision:
            p_t = p_tm1
        success = not collision and bool(
            np.sum((p_t - self._goal) ** 2) <= self.layout.goal_radius**2
        )
        self._position = p_t
        reward = 1.0 if success else (-1.0 if collision else 0.0)
        return self._obs(), reward, success or collision, False, self._info(success, collision)

    def _obs(self) -> np.ndarray:
        return self._position.astype(np.float32)  # a fresh array every call

    def _info(self, success: bool, collision: bool) -> dict[str, Any]:
        return {"success": success, "collision": collision, "position": self._position.copy()}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        size = 96
        a = self.layout.arena
        grid = (np.arange(size) + 0.5) / size * 2 * a - a
        x, y = np.meshgrid(grid, -grid)
        image = np.full((size, size, 3), 255, dtype=np.uint8)
        obstacle = (x - self._obstacle[0]) ** 2 + (y - self._obstacle[1]) ** 2
        image[obstacle <= self.layout.obstacle_radius**2] = (80, 80, 80)
        goal = (x - self._goal[0]) ** 2 + (y - self._goal[1]) ** 2
        image[goal <= self.layout.goal_radius**2] = (40, 180, 40)
        agent = (x - self._position[0]) ** 2 + (y - self._position[1]) ** 2
        image[agent <= (2 * a / size * 2) ** 2] = (200, 40, 40)
        return image


@export("envs.navigation_expert")
class NavigationExpert:
    """Scripted expert for ``rlcore/Navigation2D-v0``: straight to a branch point, then around.

    Per episode it draws a route (above or below, probability 1/2 each) and a clearance height
    h ~ U(h_low, h_high); it steers at full speed towards the branch point (-0.6, 0), then
    towards (0, +-h), then to the goal, adding N(0, noise^2) to each action coordinate and
    clipping to [-1, 1]. With the default layout every route clears the obstacle by at least
    0.05 (checked in the tests).

    It is a Policy with one extra hook, ``reset()``, that starts a new episode (draws the route).

    Args:
        layout: the env's geometry.
        noise: standard deviation of the action noise.
        clearance: (h_low, h_high), range of the route's height above/below the obstacle centre.
        seed: int, numpy Generator or None.
    """

    BRANCH_X = -0.6

    def __init__(
        self,
        layout: NavigationLayout | None = None,
        noise: float = 0.1,
        clearance: tuple[float, float] = (0.7, 0.85),
        seed: int | np.random.Generator | None = None,
    ) -> None:
        self.layout = layout or NavigationLayout()
        self.noise = check_range("noise", noise, 0.0, 1.0)
        h_low, h_high = clearance
        check_range("clearance[0]", h_low, 0.0, self.layout.arena)
        check_range("clearance[1]", h_high, h_low, self.layout.arena)
        self.clearance = (float(h_low), float(h_high))
        self._rng = as_generator(seed)
        self.route = 0
        self._waypoints = np.zeros((3, 2))
        self._next = 0
        self.reset()

    def seed(self, seed: int | None) -> None:
        self._rng = as_generator(seed)
        self.reset()

    def reset(self) -> None:
        """Start a new episode: draw the route and its clearance height."""
        self.route = int(self._rng.integers(len(ROUTES)))
        h = self._rng.uniform(*self.clearance)
        side = 1.0 if self.route == 0 else -1.0
        ox, oy = self.layout.obstacle
        self._waypoints = np.array(
            [[self.BRANCH_X, oy], [ox, oy + side * h], list(self.layout.goal)], dtype=np.float64
        )
        self._next = 0

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        """Full-speed step towards the current waypoint, plus noise; ``explore`` is ignored."""
        p = np.asarray(obs, dtype=np.float64)
        # Advance past waypoints already reached (in x: the route runs left to right).
        reach = 0.5 * self.layout.max_step
        while self._next < 2 and p[0] >= self._waypoints[self._next, 0] - reach:
            self._next += 1
        direction = self._waypoints[self._next] - p
        distance = np.linalg.norm(direction)
        speed = min(1.0, distance / self.layout.max_step)  # do not overshoot the goal
        a = direction / max(distance, 1e-12) * speed
        a = a + self.noise * self._rng.standard_normal(2)
        return np.clip(a, -1.0, 1.0).astype(np.float32)


@export("envs.navigation_metrics")
class NavigationMetrics(Callback):
    """An ``rlcore.run`` callback recording, per episode, success, collision and route.

    ``summary()`` gives the task's metrics: success rate, collision rate and mode coverage (the
    fraction of the expert's routes reproduced by at least one successful episode). ``paths``
    keeps each episode's (T + 1, 2) positions, for plots.
    """

    def __init__(self) -> None:
        self.successes: list[bool] = []
        self.collisions: list[bool] = []
        self.routes: list[int] = []
        self.paths: list[np.ndarray] = []
        self._positions: list[np.ndarray] = []

    def on_step(self, step, transition, metrics):
        if not self._positions:
            self._positions.append(np.asarray(transition.obs, dtype=np.float64))
        self._positions.append(np.asarray(transition.next_obs, dtype=np.float64))
        if transition.terminated or transition.truncated:
            info = transition.info or {}
            self.successes.append(bool(info.get("success", False)))
            self.collisions.append(bool(info.get("collision", False)))
            self.paths.append(np.stack(self._positions))
            self.routes.append(route_of(self.paths[-1]))
            self._positions = []
        return None

    def summary(self) -> dict[str, Any]:
        routes, successes = np.asarray(self.routes), np.asarray(self.successes, dtype=bool)
        return {
            "episodes": len(self.routes),
            "success_rate": float(np.mean(successes)) if self.routes else float("nan"),
            "collision_rate": float(np.mean(self.collisions)) if self.routes else float("nan"),
            "mode_coverage": mode_coverage(routes, successes),
            "route_counts": [int(np.sum(routes[successes] == r)) for r in range(len(ROUTES))],
        }


def evaluate_navigation(
    policy: Any,
    episodes: int,
    seed: int,
    env_id: str = "rlcore/Navigation2D-v0",
    metrics: NavigationMetrics | None = None,
) -> dict[str, Any]:
    """Run ``policy`` for ``episodes`` episodes with ``rlcore.run``; the ``NavigationMetrics``
    summary plus the mean return (pass ``metrics`` to keep the paths)."""
    metrics = metrics if metrics is not None else NavigationMetrics()
    history = run(policy, env_id, episodes=episodes, seed=seed, callbacks=[metrics], progress=False)
    return {**metrics.summary(), "mean_return": float(np.mean(history.returns))}
