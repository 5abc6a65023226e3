"""The maximization-bias MDP (Example 6.7): why Q-learning overestimates and Double Q does not."""

from __future__ import annotations

from typing import Any

import numpy as np

from rlcore.envs._finite import FiniteModelEnv, Model
from rlcore.registry import export
from rlcore.validation import check_int, check_range

A, B, TERMINAL = 0, 1, 2
RIGHT, LEFT = 0, 1


@export("envs.maximization_bias")
class MaximizationBiasEnv(FiniteModelEnv):
    """The maximization-bias MDP (Sutton & Barto (2018) Example 6.7, Figure 6.5).

    States: 0 = A (start), 1 = B, 2 = terminal. In A, action 0 (right) ends the episode with
    reward 0 and action 1 (left) moves to B with reward 0. In B, each of the ``n_actions_b``
    actions ends the episode with a reward drawn from N(``mean_reward_b``, ``std_reward_b``^2)
    (N(-0.1, 1) in the book), so going left is worse in expectation. Undiscounted.

    One ``Discrete(max(2, n_actions_b))`` action space serves both states. In A only actions 0
    and 1 exist in the book; the others are kept in the model as exact copies of action 0
    (right), so the model is complete and any action is safe to step, but they are not part of
    the book's MDP. Every ``info`` carries ``action_mask`` (int8, 1 = a book action of the
    current state, as gymnasium's Taxi does); ``valid_actions(s)`` gives the same list. An agent
    reproducing Figure 6.5 must restrict itself to actions {0, 1} in A: an unmasked
    epsilon-greedy agent would explore "left" with probability epsilon / n_actions, not
    epsilon / 2.

    ``P`` holds the mean reward of B's actions; ``step`` samples the Gaussian with the env's
    ``np_random``.

    Args:
        n_actions_b: number of actions in B (10 in the book's figure; >= 1).
        mean_reward_b: mean of B's rewards (-0.1).
        std_reward_b: standard deviation of B's rewards (1.0; 0 makes them deterministic).
        render_mode: ``None`` or ``"ansi"``.
    """

    def __init__(
        self,
        n_actions_b: int = 10,
        mean_reward_b: float = -0.1,
        std_reward_b: float = 1.0,
        render_mode: str | None = None,
    ) -> None:
        self.n_actions_b = check_int("n_actions_b", n_actions_b, 1)
        self.mean_reward_b = check_range("mean_reward_b", mean_reward_b)
        self.std_reward_b = check_range("std_reward_b", std_reward_b, 0.0)
        n_actions = max(2, self.n_actions_b)
        right = [(1.0, TERMINAL, 0.0, True)]
        P: Model = {
            A: {a: list(right) if a != LEFT else [(1.0, B, 0.0, False)] for a in range(n_actions)},
            # B's actions beyond n_actions_b (only when n_actions_b == 1) copy action 0 too.
            B: {a: [(1.0, TERMINAL, self.mean_reward_b, True)] for a in range(n_actions)},
            TERMINAL: {a: [(1.0, TERMINAL, 0.0, True)] for a in range(n_actions)},
        }
        isd = np.zeros(3)
        isd[A] = 1.0
        super().__init__(P, isd, render_mode)
        self._masks = {
            A: _mask(n_actions, 2),
            B: _mask(n_actions, self.n_actions_b),
            TERMINAL: _mask(n_actions, n_actions),
        }

    def valid_actions(self, s: int) -> list[int]:
        """The actions the book gives state s: [0, 1] in A, 0..n_actions_b - 1 in B."""
        return [int(a) for a in np.flatnonzero(self._masks[int(s)])]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        s, info = super().reset(seed=seed, options=options)
        info["action_mask"] = self._masks[s].copy()
        return s, info

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        s2, r, terminated, truncated, info = super().step(action)
        info["action_mask"] = self._masks[s2].copy()
        return s2, r, terminated, truncated, info

    def _sample_reward(self, s: int, a: int, s2: int, mean_reward: float) -> float:
        if s != B or self.std_reward_b == 0.0:
            return mean_reward
        return mean_reward + self.std_reward_b * float(self.np_random.standard_normal())

    def _render_text(self) -> str:
        names = {A: "A", B: "B", TERMINAL: "terminal"}
        return f"state {names[self.s]} (last action {self.lastaction})\n"


def _mask(n_actions: int, n_valid: int) -> np.ndarray:
    mask = np.zeros(n_actions, dtype=np.int8)
    mask[:n_valid] = 1
    return mask
