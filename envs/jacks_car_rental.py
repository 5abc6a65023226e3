"""Jack's car rental of Example 4.2 (Sutton & Barto (2018) §4.3, Figure 4.2) and Exercise 4.7.

The model has 441 states x 11 actions x 441 next states, about 2.1 million outcomes: it is built
with NumPy straight into a :class:`~rlcore.tabular.mdp.FiniteMDP` (``env.finite_mdp()``, which
``rlcore.tabular.planning`` uses), and ``env.P[s][a]`` is a read-only view of it that builds each
list of (prob, next_state, reward, terminated) tuples only when asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from scipy.stats import poisson

from rlcore.registry import export
from rlcore.tabular.mdp import FiniteMDP
from rlcore.validation import check_int


@dataclass(frozen=True)
class JacksCarRentalConfig:
    """The business, in dollars and cars. Defaults are Example 4.2; ``exercise_4_7`` adds the
    free shuttle of one car from the first to the second location and a $4 charge per location
    that keeps more than 10 cars overnight (after the move)."""

    max_cars: int = 20
    max_move: int = 5
    rent_reward: float = 10.0
    move_cost: float = 2.0
    request_means: tuple[float, float] = (3.0, 4.0)
    return_means: tuple[float, float] = (3.0, 2.0)
    exercise_4_7: bool = False
    parking_limit: int = 10
    parking_cost: float = 4.0

    @property
    def n_states(self) -> int:
        return (self.max_cars + 1) ** 2

    @property
    def n_actions(self) -> int:
        return 2 * self.max_move + 1


def overnight(n1: Any, n2: Any, move: Any, config: JacksCarRentalConfig) -> tuple[Any, Any, Any]:
    """Cars at each location the next morning and the night's cost, elementwise.

    ``move`` > 0 moves cars from the first location to the second. A move needing more cars than
    the source location has moves nothing but still costs ``move_cost`` per car asked for (no free
    shuttle): such an action is strictly worse than moving nothing, so optimal values and policies
    are those of the book, where those moves are not allowed. Cars beyond ``max_cars`` at a
    location disappear (returned to the nationwide company).

    Returns:
        (m1, m2, cost): morning cars at each location and the (non-negative) cost of the night.
    """
    n1, n2, move = np.asarray(n1), np.asarray(n2), np.asarray(move)
    feasible = (move <= n1) & (-move <= n2)
    moved = np.where(feasible, move, 0)
    m1 = np.minimum(n1 - moved, config.max_cars)
    m2 = np.minimum(n2 + moved, config.max_cars)
    paid = np.abs(move).astype(np.float64)
    if config.exercise_4_7:
        paid = np.where(feasible & (move > 0), move - 1.0, paid)
        parking = (m1 > config.parking_limit).astype(float) + (m2 > config.parking_limit)
        return m1, m2, config.move_cost * paid + config.parking_cost * parking
    return m1, m2, config.move_cost * paid


def location_day(request_mean: float, return_mean: float, max_cars: int) -> tuple[np.ndarray, ...]:
    """One location's day, exactly: rentals min(requests, m), then returns, capped at max_cars.

    No truncation error: the Poisson tails are lumped where the book's rules put them (all m cars
    rented when requests >= m; max_cars in the evening when returns would overfill the lot).

    Returns:
        (T, E), each (N, N) with N = max_cars + 1: T[m, x] = P(x cars in the evening | m in the
        morning) and E[m, x] = E[rentals | m in the morning, x in the evening].
    """
    n = max_cars + 1
    counts = np.arange(n)
    req_pmf, req_sf = poisson.pmf(counts, request_mean), poisson.sf(counts - 1, request_mean)
    ret_pmf, ret_sf = poisson.pmf(counts, return_mean), poisson.sf(counts - 1, return_mean)
    T, G = np.zeros((n, n)), np.zeros((n, n))  # G[m, x] = E[rentals; evening = x]
    for m in range(n):
        p_rent = np.append(req_pmf[:m], req_sf[m])  # k = 0..m-1, and P(requests >= m) at k = m
        for k in range(m + 1):
            left = m - k
            p_evening = np.zeros(n)
            p_evening[left:max_cars] = ret_pmf[: max_cars - left]
            p_evening[max_cars] = ret_sf[max_cars - left]  # P(returns >= max_cars - left)
            T[m] += p_rent[k] * p_evening
            G[m] += k * p_rent[k] * p_evening
    return T, np.divide(G, T, out=np.zeros_like(G), where=T > 0)


@lru_cache(maxsize=4)
def jacks_model(config: JacksCarRentalConfig) -> FiniteMDP:
    """The FiniteMDP of Jack's car rental: state 21 * n1 + n2 (cars at the end of the day),
    action index move + max_move; every (s, a) lists all N^2 next states, with reward
    E[R | s, a, s'] = rent_reward * (E1 + E2) - cost (the expected-reward form the book uses)."""
    N, S, A = config.max_cars + 1, config.n_states, config.n_actions
    n1, n2 = np.divmod(np.arange(S), N)
    move = np.arange(A) - config.max_move
    m1, m2, cost = overnight(n1[:, None], n2[:, None], move[None, :], config)  # each (S, A)
    T1, E1 = location_day(config.request_means[0], config.return_means[0], config.max_cars)
    T2, E2 = location_day(config.request_means[1], config.return_means[1], config.max_cars)
    prob = T1[m1][:, :, :, None] * T2[m2][:, :, None, :]  # (S, A, N, N): x1 major, like states
    reward = config.rent_reward * (E1[m1][:, :, :, None] + E2[m2][:, :, None, :])
    reward -= cost[:, :, None, None]
    K = S * A * S
    return FiniteMDP(
        S,
        A,
        np.arange(0, K + 1, S, dtype=np.int64),
        np.tile(np.arange(S, dtype=np.int64), S * A),
        prob.reshape(K),
        reward.reshape(K),
        np.zeros(K, dtype=bool),
        np.full(S, 1.0 / S),
    )


class _ModelView(Sequence):
    """``P[s][a] -> [(prob, next_state, reward, terminated), ...]`` read from a FiniteMDP."""

    def __init__(self, mdp: FiniteMDP, s: int | None = None) -> None:
        self._mdp, self._s = mdp, s

    def __len__(self) -> int:
        return self._mdp.n_states if self._s is None else self._mdp.n_actions

    def __getitem__(self, i: Any) -> Any:
        if not isinstance(i, (int, np.integer)) or not 0 <= i < len(self):
            raise IndexError(f"index {i!r} outside [0, {len(self) - 1}]")
        if self._s is None:
            return _ModelView(self._mdp, int(i))
        mdp, row = self._mdp, self._s * self._mdp.n_actions + int(i)
        k = slice(mdp.indptr[row], mdp.indptr[row + 1])
        return [
            (float(p), int(s2), float(r), bool(t))
            for p, s2, r, t in zip(mdp.prob[k], mdp.next_state[k], mdp.reward[k], mdp.terminated[k])
        ]


@export("envs.jacks_car_rental")
class JacksCarRentalEnv(gym.Env):
    """Jack's car rental (Example 4.2): move up to 5 cars overnight between two locations.

    Observation: ``(max_cars + 1) * n1 + n2`` with n1, n2 the cars at the first and second
    location at the end of the day (``to_cars`` decodes it). Action: index ``move + max_move``
    for a net move in -max_move..max_move (positive: first to second location), $2 a car.
    Each day requests and returns at each location are Poisson (means 3, 4 and 3, 2); Jack
    earns $10 per car rented; returned cars can be rented the next day. The reward is the day's
    actual profit (random); the model ``P`` / ``finite_mdp()`` holds its conditional mean. A
    continuing task (the book discounts with gamma = 0.9): episodes never terminate; the
    registered id truncates them after 365 days.

    Args:
        exercise_4_7: the modified problem of Exercise 4.7 (free shuttle, parking charge).
        max_cars: cars a location can hold (20); smaller values give small test instances.
        max_move: most cars moved in one night (5).
        render_mode: None or "ansi".
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        exercise_4_7: bool = False,
        max_cars: int = 20,
        max_move: int = 5,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not supported; use 'ansi' or None.")
        if not isinstance(exercise_4_7, bool):
            raise TypeError(f"exercise_4_7 must be True or False, got {exercise_4_7!r}")
        max_cars = check_int("max_cars", max_cars, 1)
        max_move = check_int("max_move", max_move, 0, max_cars)
        self.config = JacksCarRentalConfig(max_cars, max_move, exercise_4_7=exercise_4_7)
        self.observation_space = spaces.Discrete(self.config.n_states)
        self.action_space = spaces.Discrete(self.config.n_actions)
        self.render_mode = render_mode
        self.s = 0

    def finite_mdp(self) -> FiniteMDP:
        """The exact model as a FiniteMDP (built once per configuration, in about a second)."""
        return jacks_model(self.config)

    @property
    def P(self) -> _ModelView:  # noqa: N802  (gymnasium's name for the model)
        """The model as ``P[s][a] -> [(prob, next_state, reward, terminated)]``, built lazily."""
        return _ModelView(self.finite_mdp())

    @property
    def initial_state_distrib(self) -> np.ndarray:
        """Episodes start in a uniformly random state."""
        return np.full(self.config.n_states, 1.0 / self.config.n_states)

    def to_cars(self, s: int) -> tuple[int, int]:
        """(cars at the first location, cars at the second) of state s."""
        n1, n2 = divmod(int(s), self.config.max_cars + 1)
        return n1, n2

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self.s = int(self.np_random.integers(self.config.n_states))
        return self.s, {"cars": self.to_cars(self.s)}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(
                f"action {action!r} is outside the action space {self.action_space}; use an "
                f"integer index move + {self.config.max_move} in [0, {self.config.n_actions - 1}]."
            )
        c = self.config
        n1, n2 = self.to_cars(self.s)
        m1, m2, cost = overnight(n1, n2, int(action) - c.max_move, c)
        requests = self.np_random.poisson(c.request_means)
        returns = self.np_random.poisson(c.return_means)
        rented = np.minimum(requests, (m1, m2))
        evening = np.minimum(np.array((m1, m2)) - rented + returns, c.max_cars)
        self.s = int(evening[0]) * (c.max_cars + 1) + int(evening[1])
        reward = float(c.rent_reward * rented.sum() - cost)
        info = {"cars": self.to_cars(self.s), "rented": int(rented.sum())}
        return self.s, reward, False, False, info

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; use render_mode='ansi'.")
            return None
        n1, n2 = self.to_cars(self.s)
        return f"first location: {n1} cars, second location: {n2} cars\n"
