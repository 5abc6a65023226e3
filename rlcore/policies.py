"""Policies that do not learn: the uniform random policy (the baseline every loop test uses)."""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np

from rlcore.registry import export


@export("policies.random")
class RandomPolicy:
    """Uniformly random actions from an action space (any gymnasium space).

    Args:
        env_or_space: an env (its ``action_space`` is used) or an action space.
        seed: seed of the policy's own copy of the space.
    """

    def __init__(self, env_or_space: gym.Env | gym.spaces.Space, seed: int | None = None) -> None:
        space = getattr(env_or_space, "action_space", env_or_space)
        if not isinstance(space, gym.spaces.Space):
            raise TypeError(
                f"policies.random needs an env or a gymnasium action space, got {env_or_space!r}"
            )
        self.action_space = copy.deepcopy(space)  # seeding must not touch the caller's space
        self.seed(seed)

    def seed(self, seed: int | None) -> None:
        self.action_space.seed(seed)

    def reset(self) -> None:
        """Nothing to clear between episodes."""

    def act(self, obs: Any, *, explore: bool = False) -> Any:
        return self.action_space.sample()

    def probs(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        """Uniform pi(. | obs) over a Discrete action space."""
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise TypeError(f"probs() needs a Discrete action space, got {self.action_space!r}")
        n = int(self.action_space.n)
        return np.full(n, 1.0 / n)
