"""Base for environments with a finite, fully known model.

A subclass builds ``P[s][a] -> [(prob, next_state, reward, terminated), ...]`` (gymnasium's
FrozenLake convention) and an initial-state distribution; this class turns them into a seeded
gymnasium env and keeps ``P`` public, so ``rlcore.tabular.FiniteMDP.from_env(env)`` gives dynamic
programming the exact model the env samples from.

``step`` is on the hot path of every tabular benchmark, so it is kept lean: a deterministic
(s, a) row takes no random draw at all, a stochastic row one uniform draw and a ``bisect`` on
cumulative probabilities that are built the first time the row is visited (large models such as
the racetrack's pay nothing for rows an agent never reaches).
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

Outcome = tuple[float, int, float, bool]
Model = dict[int, dict[int, list[Outcome]]]


class FiniteModelEnv(gym.Env):
    """A gymnasium env that samples from its model ``P``.

    Args:
        P: the model; ``P[s][a]`` lists (prob, next_state, reward, terminated) outcomes for every
            state ``0 <= s < len(P)`` and action ``0 <= a < len(P[0])``.
        initial_state_distrib: (n_states,) start-state distribution.
        render_mode: ``None`` or ``"ansi"`` (``_render_text`` gives the text).

    Terminal states keep a self-loop ``(1.0, s, 0.0, True)`` for every action, as in FrozenLake, so
    the model is complete; the env never steps from them because the episode has ended.

    Hooks for subclasses: ``_sample_reward`` (a random reward whose mean ``P`` holds),
    ``_render_text``, and ``_set_model`` (for an env whose model changes over time).
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
        support = np.flatnonzero(self.initial_state_distrib > 0)
        self._fixed_start = int(support[0]) if support.size == 1 else None
        self._initial_cum = list(accumulate(self.initial_state_distrib.tolist()))
        self._n_actions = n_actions
        self._set_model(P)
        self.s = 0
        self.lastaction: int | None = None

    def _set_model(self, P: Model) -> None:
        """Install ``P`` as the model ``step`` samples from (also when it changes mid-run)."""
        if len(P) != self.observation_space.n or any(len(P[s]) != self._n_actions for s in P):
            raise ValueError(
                f"the model must keep {self.observation_space.n} states and {self._n_actions} "
                "actions per state"
            )
        self.P = P
        # _rows[s][a]: None until first visited, then (outcomes, cumulative probs or None).
        self._rows: list[list[Any]] = [[None] * self._n_actions for _ in range(len(P))]

    def _prepare_row(self, s: int, a: int) -> tuple[list[Outcome], list[float] | None]:
        outcomes = [(float(p), int(s2), float(r), bool(t)) for p, s2, r, t, *_ in self.P[s][a]]
        cum = None if len(outcomes) == 1 else list(accumulate(o[0] for o in outcomes))
        row = (outcomes, cum)
        self._rows[s][a] = row
        return row

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        if self._fixed_start is not None:
            self.s = self._fixed_start
        else:
            u = self.np_random.random() * self._initial_cum[-1]
            self.s = min(bisect_right(self._initial_cum, u), len(self._initial_cum) - 1)
        self.lastaction = None
        return self.s, {"prob": 1.0}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        a = int(action)
        if a != action or not 0 <= a < self._n_actions:
            raise ValueError(
                f"action {action!r} is outside the action space {self.action_space}; "
                f"use an integer in [0, {self._n_actions - 1}]."
            )
        s = self.s
        row = self._rows[s][a] or self._prepare_row(s, a)
        outcomes, cum = row
        if cum is None:
            p, s2, r, terminated = outcomes[0]
        else:
            i = bisect_right(cum, self.np_random.random() * cum[-1])
            p, s2, r, terminated = outcomes[min(i, len(outcomes) - 1)]
        r = self._sample_reward(s, a, s2, r)
        self.s = s2
        self.lastaction = a
        return s2, r, terminated, False, {"prob": p}

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
