"""Base for environments with a finite, fully known model.

A subclass builds ``P[s][a] -> [(prob, next_state, reward, terminated), ...]`` (gymnasium's
FrozenLake convention) and an initial-state distribution; this class turns them into a seeded
gymnasium env and keeps ``P`` public, so ``rlcore.tabular.FiniteMDP.from_env(env)`` gives dynamic
programming the exact model the env samples from.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

Outcome = tuple[float, int, float, bool]
Model = dict[int, dict[int, list[Outcome]]]


class FiniteModelEnv(gym.Env):
    """A gymnasium env that samples from its model ``P``.

    Args:
        P: the model; ``P[s][a]`` lists (prob, next_state, reward, terminated) outcomes.
        initial_state_distrib: (n_states,) start-state distribution.
        render_mode: ``None`` or ``"ansi"`` (``_render_text`` must then be implemented).

    Terminal states keep a self-loop ``(1.0, s, 0.0, True)`` for every action, as in FrozenLake, so
    the model is complete; the env never steps from them because the episode has ended.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        P: Model,
        initial_state_distrib: np.ndarray,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; use one of "
                f"{self.metadata['render_modes']} or None."
            )
        self.P = P
        n_states = len(P)
        n_actions = len(P[0])
        self.initial_state_distrib = np.asarray(initial_state_distrib, dtype=np.float64)
        if self.initial_state_distrib.shape != (n_states,):
            raise ValueError(
                f"initial_state_distrib has shape {self.initial_state_distrib.shape}, "
                f"expected ({n_states},)"
            )
        self.observation_space = spaces.Discrete(n_states)
        self.action_space = spaces.Discrete(n_actions)
        self.render_mode = render_mode
        # Per (s, a): cumulative probabilities for one uniform draw per step.
        self._cum = {
            (s, a): np.cumsum([o[0] for o in outcomes])
            for s, row in P.items()
            for a, outcomes in row.items()
        }
        self.s = 0
        self.lastaction: int | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self.s = int(
            self.np_random.choice(len(self.initial_state_distrib), p=self.initial_state_distrib)
        )
        self.lastaction = None
        return self.s, {"prob": 1.0}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        a = int(action)
        if not self.action_space.contains(a):
            raise ValueError(
                f"action {action!r} is outside the action space {self.action_space}; "
                f"use an integer in [0, {self.action_space.n - 1}]."
            )
        outcomes = self.P[self.s][a]
        cum = self._cum[(self.s, a)]
        i = int(np.searchsorted(cum, self.np_random.random() * cum[-1], side="right"))
        p, s2, r, terminated = outcomes[min(i, len(outcomes) - 1)][:4]
        r = self._sample_reward(self.s, a, int(s2), float(r))
        self.s = int(s2)
        self.lastaction = a
        return self.s, r, bool(terminated), False, {"prob": float(p)}

    def _sample_reward(self, s: int, a: int, s2: int, mean_reward: float) -> float:
        """The reward actually emitted; the model ``P`` holds its mean. Deterministic here."""
        return mean_reward

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; make the env with render_mode='ansi'."
            )
            return None
        return self._render_text()

    def _render_text(self) -> str:
        return f"state {self.s} (last action {self.lastaction})\n"
