"""Mountain Car for many runs at once: the dynamics as a pure, vectorised function.

Sutton & Barto (2018) Example 10.1, identical to gymnasium's ``MountainCar-v0`` physics (checked
step by step in the tests) but without its 200-step limit, which the book does not have:

    v_{t+1} = bound[v_t + 0.001 (A_t - 1) - 0.0025 cos(3 x_t)],    |v| <= 0.07
    x_{t+1} = bound[x_t + v_{t+1}],                                  -1.2 <= x <= 0.6
    at the left bound a negative velocity is reset to 0; reward -1 per step; the episode
    terminates when x_{t+1} >= 0.5. Episodes start at x ~ U[-0.6, -0.4), v = 0.

Actions are gymnasium's 0 = full throttle reverse, 1 = zero throttle, 2 = full throttle forward.
States are float64 arrays of shape (..., 2) = (position, velocity).
"""

from __future__ import annotations

import numpy as np

MIN_POSITION, MAX_POSITION, GOAL_POSITION = -1.2, 0.6, 0.5
MAX_SPEED = 0.07
FORCE, GRAVITY = 0.001, 0.0025
# The box the book's tile coding covers (§10.1): non-terminal positions lie below the goal.
TILING_LOW = (MIN_POSITION, -MAX_SPEED)
TILING_HIGH = (GOAL_POSITION, MAX_SPEED)


def mountain_car_step(
    state: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of Mountain Car for a batch of states.

    Args:
        state: (..., 2) position and velocity.
        action: (...,) integers in {0, 1, 2}.

    Returns:
        (next_state (..., 2), reward (...,) = -1, terminated (...,) bool).
    """
    state = np.asarray(state, dtype=np.float64)
    a = np.asarray(action)
    if np.any((a < 0) | (a > 2)):
        raise ValueError(f"Mountain Car actions are 0, 1, 2; got {np.unique(a).tolist()}")
    x, v = state[..., 0], state[..., 1]
    # the same floating-point operations, in the same order, as gymnasium's MountainCarEnv.step
    v = np.clip(v + ((a - 1) * FORCE + np.cos(3 * x) * (-GRAVITY)), -MAX_SPEED, MAX_SPEED)
    x = np.clip(x + v, MIN_POSITION, MAX_POSITION)
    v = np.where((x == MIN_POSITION) & (v < 0), 0.0, v)
    terminated = x >= GOAL_POSITION
    return np.stack([x, v], axis=-1), np.full(x.shape, -1.0), terminated


class MountainCarBatch:
    """R independent Mountain Car episodes stepped together (for ``rlcore.approximation.batched``).

    ``reset(runs, rng)`` returns new start states (k, 2) for the runs in ``runs``;
    ``step(runs, state, action, rng)`` returns (next_state, reward, terminated).
    """

    n_actions = 3
    state_shape = (2,)

    def reset(self, runs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        k = np.asarray(runs).size
        return np.stack([rng.uniform(-0.6, -0.4, size=k), np.zeros(k)], axis=-1)

    def step(
        self, runs: np.ndarray, state: np.ndarray, action: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return mountain_car_step(state, action)


__all__ = ["MountainCarBatch", "mountain_car_step"]
