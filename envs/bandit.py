"""A multimodal-reward continuous bandit: why generative policies matter offline.

The action is a point a in [-1, 1]^2; every episode is one step from a constant observation
(one coordinate, always 0). The behaviour data put equal mass on four modes at the corners
m_c = (+-c, +-c) of a square (c = 0.5 by default), a ~ N(m_c, sigma_b^2 I) with sigma_b = 0.05;
only one mode, ``rewarded``, pays:

    r(a) = exp(-|a - m_rewarded|^2 / (2 w^2)) + N(0, noise^2),       w = 0.15.

A Gaussian (mean-squared-error) behaviour-cloning policy predicts the average of the four modes,
the centre, where the reward is ~0; a generative behaviour model reproduces the four modes and a
critic can pick the rewarded one (Wang et al. 2023, "Diffusion policies as an expressive policy
class for offline RL", Fig. 1, the same picture). ``in_rewarded_mode`` is the benchmark metric:
|a - m_rewarded| <= ``mode_radius`` (0.25, five behaviour standard deviations).

Registered as ``rlcore/MultimodalBandit-v0``; the behaviour policy is ``envs.bandit_behaviour``
(the default for ``rlcore data collect``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlcore.registry import export
from rlcore.validation import as_generator, check_int, check_range

N_MODES = 4
SIGNS = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])  # mode c: corner c


def mode_centres(corner: float = 0.5) -> np.ndarray:
    """(4, 2) the behaviour modes (+-corner, +-corner), counter-clockwise from (+, +)."""
    check_range("corner", corner, 0.0, 1.0, low_open=True)
    return corner * SIGNS


def bandit_reward_mean(actions: np.ndarray, centre: np.ndarray, width: float) -> np.ndarray:
    """E[r | a] = exp(-|a - centre|^2 / (2 width^2)); actions (..., 2) -> (...)."""
    d2 = np.sum((np.asarray(actions, dtype=np.float64) - centre) ** 2, axis=-1)
    return np.exp(-0.5 * d2 / width**2)


def in_rewarded_mode(
    actions: np.ndarray, rewarded: int = 0, corner: float = 0.5, mode_radius: float = 0.25
) -> np.ndarray:
    """Whether each action (..., 2) lies within ``mode_radius`` of the rewarded mode; (...) bool."""
    centre = mode_centres(corner)[check_int("rewarded", rewarded, 0, N_MODES - 1)]
    d2 = np.sum((np.asarray(actions, dtype=np.float64) - centre) ** 2, axis=-1)
    return d2 <= mode_radius**2


class MultimodalBanditEnv(gym.Env):
    """One-step continuous bandit with four behaviour modes and one rewarded (module docstring).

    Args:
        rewarded: index 0..3 of the paying mode (0: (+c, +c)).
        corner: c, the modes' distance from the centre on each axis, in (0, 1].
        width: w, the reward bump's standard deviation.
        noise: standard deviation of the reward noise.
    """

    metadata = {"render_modes": []}

    def __init__(
        self, rewarded: int = 0, corner: float = 0.5, width: float = 0.15, noise: float = 0.1
    ) -> None:
        self.rewarded = check_int("rewarded", rewarded, 0, N_MODES - 1, hint="one of 4 corners.")
        self.corner = check_range("corner", corner, 0.0, 1.0, low_open=True)
        self.width = check_range("width", width, 0.0, low_open=True)
        self.noise = check_range("noise", noise, 0.0)
        self.centre = mode_centres(self.corner)[self.rewarded]
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: Any):
        a_t = np.asarray(action, dtype=np.float64)
        if a_t.shape != (2,) or not np.all(np.isfinite(a_t)) or np.any(np.abs(a_t) > 1.0 + 1e-6):
            raise ValueError(
                f"action {action!r} is outside the action space {self.action_space}: give two "
                "finite numbers in [-1, 1]."
            )
        mean = float(bandit_reward_mean(a_t, self.centre, self.width))
        reward = mean + self.noise * float(self.np_random.standard_normal())
        info = {
            "reward_mean": mean,
            "in_rewarded_mode": bool(in_rewarded_mode(a_t, self.rewarded, self.corner)),
        }
        return np.zeros(1, dtype=np.float32), reward, True, False, info


@export("envs.bandit_behaviour")
class BanditBehaviour:
    """The behaviour policy of ``rlcore/MultimodalBandit-v0``: a uniformly chosen corner plus
    N(0, std^2) noise per coordinate, clipped to [-1, 1].

    Args:
        corner: c, as the env's.
        std: sigma_b, the spread of each mode.
        seed: int, numpy Generator or None.
    """

    def __init__(
        self, corner: float = 0.5, std: float = 0.05, seed: int | np.random.Generator | None = None
    ) -> None:
        self.modes = mode_centres(corner)
        self.std = check_range("std", std, 0.0)
        self._rng = as_generator(seed)

    def seed(self, seed: int | None) -> None:
        self._rng = as_generator(seed)

    def reset(self) -> None:
        """Nothing to forget: every episode is one independent draw."""

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        c = int(self._rng.integers(N_MODES))
        a = self.modes[c] + self.std * self._rng.standard_normal(2)
        return np.clip(a, -1.0, 1.0).astype(np.float32)
